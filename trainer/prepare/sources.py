"""Many event-log files as one log: the files a pattern names, their reports and their codes.

``prepare --events 'logs/*.parquet'`` reads every file the pattern matches, in name order, each
with the one loader (trainer/events.py: same adapters, validation and line numbers). One log of
many files is their rows in that order, so its codes — order of first appearance — are what
the loader would give the files written one after the other; a ``session_id`` is read within
its file (a session that spans two files is two sessions, in both engines). Both engines use
these: the local one to join the files' EventLogs, the Spark one to merge their reports.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trainer.events import MAX_EXAMPLES, BadRows, EventLog, EventLogError, Impressions, LoadReport


def expand(pattern: str) -> list[Path]:
    """The files ``pattern`` names (a path or a glob), sorted; EventLogError when none."""
    if Path(pattern).is_file():
        return [Path(pattern)]
    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not files:
        raise EventLogError(f"no event-log file matches {pattern!r}")
    return files


def merge_reports(pattern: str, reports: list[LoadReport]) -> LoadReport:
    """One report for the files of ``pattern``: counts summed; examples name their file.

    One file keeps its own report unchanged (the same as ``train --events`` of that file).
    """
    if len(reports) == 1:
        return reports[0]
    counts: dict[str, int] = {}
    ignored: dict[str, int] = {}
    examples: list[tuple[int, str, str]] = []
    for report in reports:
        for reason, n in report.bad.counts.items():
            counts[reason] = counts.get(reason, 0) + n
        for name, n in report.ignored.items():
            ignored[name] = ignored.get(name, 0) + n
        left = MAX_EXAMPLES - len(examples)
        examples += [(n, why, f"{report.path}: {row}") for n, why, row in report.bad.examples][
            : max(left, 0)
        ]
    numbering = {r.numbering for r in reports}
    return LoadReport(
        path=pattern,
        rows_read=sum(r.rows_read for r in reports),
        rows_kept=sum(r.rows_kept for r in reports),
        bad=BadRows(counts, examples),
        ignored=ignored,
        out_of_window=sum(r.out_of_window for r in reports),
        numbering=numbering.pop() if len(numbering) == 1 else "line or row",
    )


def concat_logs(logs: list[EventLog], report: LoadReport) -> EventLog:
    """The files' logs one after the other, their dictionaries merged in order of appearance."""
    if len(logs) == 1:
        return logs[0]
    codes: dict[str, np.ndarray] = {}
    ids: dict[str, np.ndarray] = {}
    for column, names in (
        ("user", "user_ids"),
        ("item", "item_ids"),
        ("category", "category_ids"),
        ("shop", "shop_ids"),
        ("query", "query_ids"),
    ):
        parts = [(getattr(lg, column), getattr(lg, names)) for lg in logs]
        if all(c is None for c, _ in parts):
            continue
        codes[column], ids[names] = _merge_codes(parts, [len(lg) for lg in logs])
    session = None
    if any(lg.session is not None for lg in logs):
        session = _file_sessions(logs)
    return EventLog(
        user=codes["user"],
        item=codes["item"],
        interaction=np.concatenate([lg.interaction for lg in logs]),
        timestamp=np.concatenate([lg.timestamp for lg in logs]),
        category=codes["category"],
        session=session,
        user_ids=ids["user_ids"],
        item_ids=ids["item_ids"],
        category_ids=ids["category_ids"],
        report=report,
        shop=codes.get("shop"),
        query=codes.get("query"),
        shop_ids=ids.get("shop_ids", np.array([], object)),
        query_ids=ids.get("query_ids", np.array([], object)),
        impressions=_merge_impressions(logs),
    )


def _merge_codes(
    parts: Sequence[tuple[np.ndarray | None, np.ndarray]], lengths: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Codes into one dictionary: the parts' dictionaries in order, first appearance wins."""
    merged = pc.dictionary_encode(
        pa.concat_arrays([pa.array(list(d) if len(d) else [], pa.string()) for _, d in parts])
    )
    to_global = merged.indices.to_numpy()
    out, offset = [], 0
    for (part, dictionary), n in zip(parts, lengths, strict=True):
        if part is None:
            out.append(np.full(n, -1, np.int32))
            continue
        local = to_global[offset : offset + len(dictionary)]
        out.append(np.where(part >= 0, local[np.maximum(part, 0)] if len(local) else -1, -1))
        offset += len(dictionary)
    values = merged.dictionary.to_numpy(zero_copy_only=False).astype(object)
    return np.concatenate(out).astype(np.int32), values


def _file_sessions(logs: list[EventLog]) -> np.ndarray:
    """Session codes made distinct per file (a session id is read within its file: the loader
    keeps codes, not session id strings); -1 where a row has none."""
    out, offset = [], 0
    for lg in logs:
        if lg.session is None:
            out.append(np.full(len(lg), -1, np.int32))
            continue
        out.append(np.where(lg.session >= 0, lg.session + offset, -1).astype(np.int32))
        offset += int(lg.session.max(initial=-1)) + 1
    return np.concatenate(out)


def _merge_impressions(logs: list[EventLog]) -> Impressions | None:
    present = [(i, lg.impressions) for i, lg in enumerate(logs) if lg.impressions is not None]
    if not present:
        return None
    starts = np.cumsum([0] + [len(lg) for lg in logs])
    parts = [(imp.item, imp.ids) for _, imp in present]
    item, ids = _merge_codes(parts, [len(imp) for _, imp in present])
    row = np.concatenate([imp.row + starts[i] for i, imp in present])
    return Impressions(row.astype(np.int64), item, ids)
