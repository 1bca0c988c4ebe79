"""Sessions: the paper's sentences, cut from a user's events by session id or inactivity gap.

A session is a time-ordered run of one user's (item, interaction) pairs. With a ``session_id``
column the log's own sessions are used (within each user); without one, a new session starts
after ``gap_minutes`` of inactivity. Consecutive repeats of the same pair (reloads, double clicks)
collapse into one when ``dedupe_consecutive`` is on. Sessions of fewer than ``min_pairs`` pairs
are dropped (the paper removes sessions of three or fewer pairs as bounces).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainer.config import SessionConfig
from trainer.events import EventLog


@dataclass(frozen=True)
class Sessions:
    """Sessions as flat arrays: session ``s`` is rows ``offsets[s]:offsets[s + 1]``."""

    item: np.ndarray  # int32 item codes of the EventLog
    interaction: np.ndarray  # int8 Interaction codes
    offsets: np.ndarray  # int64, len = n_sessions + 1
    user: np.ndarray  # int32 user code of each session
    start: np.ndarray  # int64 unix seconds of each session's first event
    dropped_short: int  # sessions dropped by the min_pairs rule
    row: np.ndarray  # int64 EventLog row of each pair: its shop, query and impressions

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def select(self, mask: np.ndarray) -> Sessions:
        """The sessions where ``mask`` (one bool per session) is true, in the same order."""
        mask = np.asarray(mask, dtype=bool)
        rows = np.repeat(mask, self.lengths)
        lengths = self.lengths[mask]
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return Sessions(
            item=self.item[rows],
            interaction=self.interaction[rows],
            offsets=offsets,
            user=self.user[mask],
            start=self.start[mask],
            dropped_short=0,
            row=self.row[rows],
        )


def sessionize(log: EventLog, config: SessionConfig) -> Sessions:
    """Cut ``log`` into sessions; ties in time keep the log's row order."""
    n = len(log)
    if n == 0:
        return empty_sessions()
    row = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
    if log.session is not None:
        order = np.lexsort((row, log.timestamp, log.session, log.user))
    else:
        order = np.lexsort((row, log.timestamp, log.user))
    del row
    user = log.user[order]
    ts = log.timestamp[order]
    item = log.item[order]
    interaction = log.interaction[order]

    new_session = np.ones(n, dtype=bool)
    if log.session is not None:
        session = log.session[order]
        new_session[1:] = (user[1:] != user[:-1]) | (session[1:] != session[:-1])
    else:
        gap = config.gap_minutes * 60.0
        new_session[1:] = (user[1:] != user[:-1]) | ((ts[1:] - ts[:-1]) > gap)

    keep = np.ones(n, dtype=bool)
    if config.dedupe_consecutive:
        repeat = (item[1:] == item[:-1]) & (interaction[1:] == interaction[:-1])
        keep[1:] = ~(repeat & ~new_session[1:])

    session_id = np.cumsum(new_session, dtype=np.int64 if n >= 2**31 else np.int32) - 1
    del new_session
    session_id, user, ts = session_id[keep], user[keep], ts[keep]
    item, interaction, log_row = item[keep], interaction[keep], order[keep]
    del order, keep

    lengths = np.bincount(session_id)
    long_enough = lengths >= config.min_pairs
    rows = long_enough[session_id]
    starts = np.flatnonzero(np.r_[True, session_id[1:] != session_id[:-1]])
    kept_lengths = lengths[long_enough]
    offsets = np.zeros(len(kept_lengths) + 1, dtype=np.int64)
    np.cumsum(kept_lengths, out=offsets[1:])
    return Sessions(
        item=item[rows].astype(np.int32),
        interaction=interaction[rows].astype(np.int8),
        offsets=offsets,
        user=user[starts][long_enough].astype(np.int32),
        start=ts[starts][long_enough].astype(np.int64),
        dropped_short=int((~long_enough).sum()),
        row=log_row[rows].astype(np.int64),
    )


def empty_sessions() -> Sessions:
    """No sessions (an empty log; a model whose sessions are no longer needed)."""
    return Sessions(
        item=np.zeros(0, np.int32),
        interaction=np.zeros(0, np.int8),
        offsets=np.zeros(1, np.int64),
        user=np.zeros(0, np.int32),
        start=np.zeros(0, np.int64),
        dropped_short=0,
        row=np.zeros(0, np.int64),
    )
