"""The local engine: ``prepare --engine local``, the trainer's own pyarrow/numpy path, written out.

It runs exactly what ``train --events`` runs before the models (trainer/events.py,
sessions.py, vocab.py, popular.py) and writes the results in the prepared format
(trainer/prepare/format.py), so ``train --prepared`` of its folder is ``train --events`` of its
log. It is also the reference the Spark engine is tested against.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trainer.config import TrainConfig
from trainer.events import BadRowsError, EventLog, load_events
from trainer.popular import popular_items
from trainer.prepare import format as fmt
from trainer.prepare.sources import concat_logs, expand, merge_reports
from trainer.sessions import Sessions, sessionize
from trainer.vocab import Corpus, Vocab, build_vocab, encode_items, encode_pairs

log = logging.getLogger("trainer.prepare")


def prepare_local(pattern: str, out: Path, config: TrainConfig, progress: bool) -> dict[str, Any]:
    """Prepare the files of ``pattern`` into ``out``; return the manifest's fields."""
    files = expand(pattern)
    data = config.data.model_copy(update={"on_bad_rows": "skip"})
    logs = [load_events(f, data, progress=progress) for f in files]
    report = merge_reports(pattern if len(files) > 1 else str(files[0]), [g.report for g in logs])
    log.info("%s", report.summary())
    if config.data.on_bad_rows == "fail" and report.bad.counts:
        raise BadRowsError(report)
    event_log = concat_logs(logs, report)
    del logs
    sessions = sessionize(event_log, config.sessions)
    if len(sessions) == 0:
        raise ValueError(
            f"no session of {config.sessions.min_pairs}+ pairs in {len(event_log)} events; "
            "is the log too small, or the session gap too short?"
        )
    vocab = build_vocab(sessions, event_log, config.vocab, config.entities)
    implicit_max = config.negatives.implicit_max if config.negatives.implicit else 0
    pairs = encode_pairs(sessions, vocab, event_log, implicit_max)
    items = encode_items(sessions, vocab, event_log)
    write_events(out, event_log)
    write_sessions(out, sessions)
    write_vocab(out, vocab, event_log)
    write_corpus(out, fmt.PAIRS, pairs)
    write_corpus(out, fmt.ITEMS, items)
    popular_items(event_log, config.popular).write(out / fmt.POPULAR)
    ts = event_log.timestamp
    impressions = 0 if event_log.impressions is None else len(event_log.impressions)
    statistics = fmt.statistics_of(
        report,
        {
            "events": len(event_log),
            "users": len(np.unique(event_log.user)),
            "time_range": [int(ts.min()), int(ts.max())] if len(ts) else None,
            "impressions": impressions,
            "categories": len(event_log.category_ids),
            "sessions": len(sessions),
            "sessions_dropped_short": sessions.dropped_short,
            "session_pairs": int(sessions.offsets[-1]),
        },
        vocab,
    )
    return {
        "source": {"events": pattern, "files": [str(f) for f in files]},
        "report": fmt.report_json(report),
        "statistics": statistics,
        "impressions": event_log.impressions is not None,
        "columns": [c for c in ("session", "shop", "query") if getattr(event_log, c) is not None],
    }


def write_events(out: Path, event_log: EventLog) -> None:
    """The validated log and its dictionaries (what a validation split is carved from)."""
    columns: dict[str, Any] = {
        "row": pa.array(np.arange(len(event_log), dtype=np.int64)),
        "user": event_log.user,
        "item": event_log.item,
        "interaction": event_log.interaction,
        "timestamp": event_log.timestamp,
        "category": event_log.category,
    }
    for name in ("session", "shop", "query"):
        if getattr(event_log, name) is not None:
            columns[name] = getattr(event_log, name)
    fmt.write_table(out, fmt.EVENTS, pa.table(columns))
    for kind in fmt.DICTIONARIES:
        ids = getattr(event_log, f"{kind}_ids")
        table = pa.table(
            {
                "code": pa.array(np.arange(len(ids), dtype=np.int32)),
                "id": pa.array(ids, pa.string()),
            }
        )
        fmt.write_table(out, fmt.dictionary_dir(kind), table)
    if event_log.impressions is not None:
        shown = event_log.impressions
        items = pa.array(shown.ids, pa.string()).take(pa.array(shown.item))
        fmt.write_table(out, fmt.IMPRESSIONS, pa.table({"row": shown.row, "item": items}))


def write_sessions(out: Path, sessions: Sessions) -> None:
    offsets = sessions.offsets
    table = pa.table(
        {
            "session": pa.array(np.arange(len(sessions), dtype=np.int64)),
            "user": sessions.user,
            "start": sessions.start,
            "item": fmt.list_array(sessions.item, offsets),
            "interaction": fmt.list_array(sessions.interaction, offsets),
            "row": fmt.list_array(sessions.row, offsets),
        }
    )
    fmt.write_table(out, fmt.SESSIONS, table)


def write_vocab(out: Path, vocab: Vocab, event_log: EventLog) -> None:
    known = pa.array(event_log.item_ids, pa.string())
    log_item = pc.index_in(pa.array(vocab.item_ids, pa.string()), value_set=known).to_numpy()
    fmt.write_vocab(out, vocab, log_item.astype(np.int32))


def write_corpus(out: Path, name: str, corpus: Corpus) -> None:
    columns: dict[str, Any] = {
        "session": pa.array(np.arange(len(corpus), dtype=np.int64)),
        "tokens": fmt.list_array(corpus.tokens, corpus.offsets),
    }
    if corpus.implicit is not None:
        starts, negatives = corpus.implicit
        per_position = fmt.list_array(negatives, starts)
        columns["implicit"] = pa.ListArray.from_arrays(
            pa.array(corpus.offsets.astype(np.int32)), per_position
        )
    fmt.write_table(out, name, pa.table(columns))
