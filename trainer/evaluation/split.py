"""The time split: train on everything before a cutoff, test on the sessions that start after.

The test window is the last ``test_days`` days of the log, measured back from its **last**
event (so a few stray rows from long before the log's window, like Taobao's 44, cannot move
it). The cutoff is ``last event + 1 s − test_days × 86 400 s``.

* **Training data** is every event strictly before the cutoff. A session that straddles the
  cutoff is cut there: no model ever sees an event at or after the cutoff, and every model
  (embeddings, co-purchase, popularity) learns from exactly the same events.
* **Test sessions** are the sessions of the whole log (cut the same way as for training: same
  gap, same ``min_pairs`` rule) that *start* at or after the cutoff — the paper's "sessions
  that start in the 24 hour window following the last day of training".

A validation split for tuning is the same rule applied to the training events alone, so the
test window is never looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from trainer.config import SessionConfig
from trainer.events import EventLog
from trainer.sessions import Sessions, sessionize

DAY = 86_400


class SplitError(ValueError):
    """The log cannot be split as asked (empty log, or one side of the split is empty)."""


@dataclass(frozen=True)
class SplitInfo:
    """What the split did, for the report and ``metrics.json``."""

    cutoff: int  # unix seconds: training events are strictly before, test sessions start at/after
    test_end: int  # unix seconds: the last event + 1
    test_days: float
    log_start: int
    train_events: int
    test_window_events: int  # events at or after the cutoff (test sessions' events and bounces)
    train_sessions: int
    test_sessions: int
    test_session_events: int

    def to_json(self) -> dict[str, object]:
        return {
            "cutoff": iso(self.cutoff),
            "test_end": iso(self.test_end),
            "test_days": self.test_days,
            "log_start": iso(self.log_start),
            "train_events": self.train_events,
            "test_window_events": self.test_window_events,
            "train_sessions": self.train_sessions,
            "test_sessions": self.test_sessions,
            "test_session_events": self.test_session_events,
        }


@dataclass(frozen=True)
class Split:
    """The training events, the test sessions, and how they were chosen."""

    train: EventLog
    test: Sessions
    info: SplitInfo


def time_split(log: EventLog, test_days: float, config: SessionConfig) -> Split:
    """Split ``log`` at ``test_days`` days before its last event; see the module docstring."""
    test, info = holdout(log, test_days, config)
    if info.train_events == 0:
        raise SplitError(
            f"no event before the cutoff {iso(info.cutoff)}: the log spans less than "
            f"{test_days} days; use a smaller --test-days"
        )
    return Split(train=log.select(log.timestamp < info.cutoff), test=test, info=info)


def holdout(
    log: EventLog, test_days: float, config: SessionConfig, not_before: int | None = None
) -> tuple[Sessions, SplitInfo]:
    """The sessions of ``log`` that start in its last ``test_days`` days (and ≥ ``not_before``).

    ``not_before`` keeps a published version's own training data out of its test set.
    """
    if test_days <= 0:
        raise SplitError(f"test_days must be positive, got {test_days}")
    if len(log) == 0:
        raise SplitError("the event log is empty")
    test_end = int(log.timestamp.max()) + 1
    cutoff = test_end - round(test_days * DAY)
    if not_before is not None:
        cutoff = max(cutoff, not_before)
    before = log.timestamp < cutoff
    all_sessions = sessionize(log, config)
    test = all_sessions.select(all_sessions.start >= cutoff)
    if len(test) == 0:
        raise SplitError(
            f"no session of {config.min_pairs}+ pairs starts between {iso(cutoff)} and "
            f"{iso(test_end)}; use a larger --test-days or a later log"
        )
    info = SplitInfo(
        cutoff=cutoff,
        test_end=test_end,
        test_days=test_days,
        log_start=int(log.timestamp.min()),
        train_events=int(before.sum()),
        test_window_events=int((~before).sum()),
        train_sessions=int((all_sessions.start < cutoff).sum()),
        test_sessions=len(test),
        test_session_events=int(test.offsets[-1]),
    )
    return test, info


def seen_items(train_sessions: Sessions) -> np.ndarray:
    """Sorted distinct item codes of the training sessions: what "seen in training" means."""
    return np.unique(train_sessions.item).astype(np.int64)


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
