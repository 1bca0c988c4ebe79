"""The event log: read a CSV / Parquet / JSONL file into compact, validated arrays.

One idea at ~620 lines: reading one log into validated arrays. Format readers, the row
validation and the bad-row report share the line-numbering state of one pass over the file, and
splitting them would thread that state through module boundaries; the per-dataset layouts
already live in ``trainer/adapters.py``. Issue 15 (columnar ids, streaming batches) reshapes
this file and is where a split by reader would come.

`load_events` streams the file in batches (pyarrow readers; gzip and friends by extension),
validates each batch with vectorised pyarrow/numpy code, and keeps only compact columns: int32
codes into id dictionaries built across batches, int8 interactions and int64 unix seconds —
about 21 bytes a row plus the distinct ids. Rows keep file order. Rows that cannot become events
are counted by reason with their line numbers (1-based physical lines, the CSV header being
line 1; for Parquet, 1-based row numbers); see docs/data-loading.md for the whole contract.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq
from tqdm import tqdm

from trainer import adapters
from trainer.adapters import OPTIONAL, REQUIRED, UNKNOWN, Adapter, clean_text, normalise_name
from trainer.config import DataConfig
from trainer.progress import bar

MAX_EXAMPLES = 20  # bad rows quoted in a report, first in file order
_CSV_BLOCK = 2 << 20  # bytes a CSV batch covers; pyarrow reads ~32 blocks ahead
_JSONL_CHUNK = 8 << 20  # bytes of whole lines handed to the JSON reader at once
_PARQUET_BATCH = 1 << 18  # rows
_MERGE_MIN = 1 << 16  # batch dictionary entries that wait before a merge into the global one
_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}
_FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_ID_COLUMNS = ("user_id", "item_id", "category_id")  # always encoded, -1 where blank
_SPARSE_COLUMNS = ("session_id", "shop_id", "query")  # encoded once the file shows them
IMPRESSION_SEPARATOR = "|"  # impressions: the ids shown above a click, in display order


class EventLogError(Exception):
    """The file cannot be read as an event log: missing, unreadable, unknown format or columns."""


class BadRowsError(Exception):
    """on_bad_rows="fail" and the file has bad rows; the message is the report's summary."""

    def __init__(self, report: LoadReport) -> None:
        super().__init__(report.summary())
        self.report = report


@dataclass(frozen=True)
class BadRows:
    """Rows that could not become events: count per reason, first examples in file order."""

    counts: dict[str, int]
    examples: list[tuple[int, str, str]]  # (line or row number, reason, the row as text)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class LoadReport:
    """What reading one file did. rows_read = rows_kept + bad + ignored + out_of_window."""

    path: str
    rows_read: int  # data rows, bad ones included; not the header, not blank lines
    rows_kept: int
    bad: BadRows
    ignored: dict[str, int]  # interactions the adapter drops on purpose: not errors
    out_of_window: int  # rows before config.since or at/after config.until
    numbering: str = "line"  # examples carry a "line" (CSV, JSONL) or "row" (Parquet) number

    def summary(self) -> str:
        """Counts by reason and the first bad rows with their numbers, for people."""
        out = [f"{self.path}: read {self.rows_read:,} rows, kept {self.rows_kept:,}"]
        if self.bad.counts:
            out.append(f"bad rows: {self.bad.total:,}")
            ranked = sorted(self.bad.counts.items(), key=lambda kv: (-kv[1], kv[0]))
            out += [f"  {count:>12,}  {reason}" for reason, count in ranked[:MAX_EXAMPLES]]
            if len(ranked) > MAX_EXAMPLES:
                out.append(f"  … and {len(ranked) - MAX_EXAMPLES} more reasons")
        if self.ignored:
            out.append("ignored: " + ", ".join(f"{k} {v:,}" for k, v in self.ignored.items()))
        if self.out_of_window:
            out.append(f"outside since/until: {self.out_of_window:,}")
        if self.bad.examples:
            out.append(f"first bad rows ({self.numbering} numbers start at 1):")
            out += [f"  {self.numbering} {n}: {why}: {row}" for n, why, row in self.bad.examples]
        return "\n".join(out)


@dataclass(frozen=True, eq=False)
class Impressions:
    """Items shown above a clicked one and skipped: (event row, shown item) pairs.

    ``item`` codes index ``ids``, a dictionary of its own: shown items need not have events.
    """

    row: np.ndarray  # int64 row of the click in the EventLog
    item: np.ndarray  # int32 code into ids
    ids: np.ndarray  # object array of str

    def __len__(self) -> int:
        return len(self.row)

    def remap(self, new_row: np.ndarray) -> Impressions:
        """The impressions of kept rows; ``new_row[old]`` is a row's new index or -1."""
        row = new_row[self.row]
        kept = row >= 0
        return Impressions(row[kept], self.item[kept], self.ids)


@dataclass(frozen=True, eq=False)
class EventLog:
    """Validated events in file order; ids are int32 codes into the *_ids string arrays."""

    user: np.ndarray  # int32
    item: np.ndarray  # int32
    interaction: np.ndarray  # int8 Interaction values
    timestamp: np.ndarray  # int64 unix seconds, UTC
    category: np.ndarray  # int32, -1 where the row has none
    session: np.ndarray | None  # int32 (-1 where the row has none) when the log has session_id
    user_ids: np.ndarray  # object arrays of the original ids as strings
    item_ids: np.ndarray
    category_ids: np.ndarray
    report: LoadReport
    # The blog's entities, when the log has the columns: int32 codes (-1 where blank).
    shop: np.ndarray | None = None
    query: np.ndarray | None = None  # normalised: lower case, single spaces
    shop_ids: np.ndarray = field(default_factory=lambda: np.array([], object))
    query_ids: np.ndarray = field(default_factory=lambda: np.array([], object))
    impressions: Impressions | None = None  # when the log has an impressions column

    def __len__(self) -> int:
        return len(self.user)

    def select(self, rows: Any) -> EventLog:
        """The rows a boolean mask or integer indices pick, in that order; same dictionaries."""
        rows = np.asarray(rows)
        if rows.dtype == bool and rows.shape != self.user.shape:
            raise ValueError(f"mask of {rows.shape} for {len(self)} events")
        picked = {
            f: getattr(self, f)[rows]
            for f in ("user", "item", "interaction", "timestamp", "category")
        }
        for f in ("session", "shop", "query"):
            column = getattr(self, f)
            picked[f] = None if column is None else column[rows]
        impressions = None
        if self.impressions is not None:
            new_row = np.full(len(self), -1, np.int64)
            new_row[np.arange(len(self))[rows]] = np.arange(len(picked["user"]))
            impressions = self.impressions.remap(new_row)
        return replace(self, **picked, impressions=impressions)


def load_events(path: str | Path, config: DataConfig, progress: bool = True) -> EventLog:
    """Read, validate and encode the event log at `path` as `config` says.

    Bad rows are skipped and reported; with on_bad_rows="fail" the whole file is still read,
    then BadRowsError names every reason. EventLogError: missing or unreadable file, unknown
    format, missing required columns.
    """
    path = Path(path)
    if not path.is_file():
        raise EventLogError(f"event log not found: {path}")
    fmt = _format(path, config.format)
    builder = _Builder(adapters.get_adapter(config.adapter), config)
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}[fmt]
    try:
        lines = reader(path, builder, progress)
    except (pa.ArrowException, OSError, EOFError) as exc:
        raise EventLogError(f"cannot read {path} as {fmt}: {exc}") from exc
    log = builder.finish(str(path), lines, "row" if fmt == "parquet" else "line")
    if config.on_bad_rows == "fail" and log.report.bad.counts:
        raise BadRowsError(log.report)
    return log


def _format(path: Path, fmt: str) -> str:
    suffixes = [s.lower() for s in path.suffixes[-2:] if s.lower() not in _COMPRESSION]
    found = fmt if fmt != "auto" else _FORMATS.get(suffixes[-1] if suffixes else "")
    if found is None:
        raise EventLogError(
            f"cannot tell the format of {path} from its extension; name it .csv, .parquet, "
            ".jsonl or .ndjson (optionally .gz), or set data.format"
        )
    return found


class _Lines:
    """Maps the k-th row a reader produced to its line: header plus skipped lines before it."""

    def __init__(self, header: int = 0) -> None:
        self.header = header
        self.skipped: list[int] = []  # lines that produced no row: wrong width, blank, not JSON

    def line_of(self, row: int) -> int:
        skipped = sorted(self.skipped)
        line = self.header + row + 1
        while (shifted := self.header + row + 1 + bisect.bisect_right(skipped, line)) != line:
            line = shifted
        return line


class _Growing:
    """A numpy array appended to in place, its capacity doubling.

    Large buffers are fresh mmaps, so untouched capacity costs no memory and a replaced buffer
    is returned to the system at once — unlike concatenating many batch-sized chunks at the end,
    which needs both copies and leaves the chunks' heap memory behind.
    """

    def __init__(self, dtype: type) -> None:
        self._data: np.ndarray = np.empty(1 << 12, dtype)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self._data):
            grown = np.empty(max(end, 2 * len(self._data)), self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : end] = values
        self.size = end

    def array(self) -> np.ndarray:
        return self._data[: self.size]


class _Interner:
    """Strings → int32 codes in order of first appearance, across batches; null → -1.

    Each batch is dictionary-encoded alone and its local codes appended; batch dictionaries are
    merged into the global one (one dictionary_encode of global + pending, then the pending
    codes remapped in place) once they hold as many entries as it does, so merging costs
    amortised linear time and memory stays near one copy of the distinct ids.
    """

    def __init__(self) -> None:
        self._values: pa.Array = pa.array([], pa.string())
        self.codes = _Growing(np.int32)
        self._pending: list[tuple[int, pa.Array]] = []  # (first row, batch dictionary)
        self._pending_size = 0

    def add(self, values: pa.Array) -> None:
        encoded = pc.dictionary_encode(values)
        self._pending.append((self.codes.size, encoded.dictionary))
        self.codes.extend(encoded.indices.fill_null(-1).to_numpy())
        self._pending_size += len(encoded.dictionary)
        if self._pending_size >= max(len(self._values), _MERGE_MIN):
            self._merge()

    def _merge(self) -> None:
        if not self._pending:
            return
        dictionaries = [d for _, d in self._pending]
        merged = pc.dictionary_encode(pa.concat_arrays([self._values, *dictionaries]))
        to_global = merged.indices.to_numpy()
        offset, codes = len(self._values), self.codes.array()
        ends = [start for start, _ in self._pending[1:]] + [self.codes.size]
        for (start, local), end in zip(self._pending, ends, strict=True):
            batch = codes[start:end]
            if len(local):
                batch[:] = np.where(batch >= 0, to_global[offset : offset + len(local)][batch], -1)
            offset += len(local)
        self._values, self._pending, self._pending_size = merged.dictionary, [], 0

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """All codes in order and the dictionary as an object array of str."""
        self._merge()
        return self.codes.array(), self._values.to_numpy(zero_copy_only=False)


class _Builder:
    """Validates batches of raw columns and accumulates the compact columns of kept rows."""

    def __init__(self, adapter: Adapter, config: DataConfig) -> None:
        self.adapter = adapter
        self.codes = adapter.interaction_codes(config.interaction_map)
        self.since, self.until = _seconds(config.since), _seconds(config.until)
        season = config.previous_year_window()
        self.season = None if season is None else (_seconds(season[0]), _seconds(season[1]))
        self.ids = {c: _Interner() for c in _ID_COLUMNS + _SPARSE_COLUMNS}
        self.sparse: list[str] = []  # sparse columns seen so far, in order of appearance
        self.impression_row: _Growing | None = None
        self.impression_item = _Interner()
        self.interaction, self.timestamp = _Growing(np.int8), _Growing(np.int64)
        self.rows = 0  # rows the reader produced so far, blank ones included (for line numbers)
        self.rows_read = 0
        self.bad: Counter[str] = Counter()
        self.ignored: Counter[str] = Counter()
        self.out_of_window = 0
        self.line_examples: list[tuple[int, str, str]] = []
        self.row_examples: list[tuple[int, str, str]] = []

    def skipped_line(self, line: int, reason: str, text: str) -> None:
        """A line the reader could not turn into a row (wrong width, not JSON)."""
        self.bad[reason] += 1
        self.rows_read += 1
        if len(self.line_examples) < MAX_EXAMPLES:
            self.line_examples.append((line, reason, _short(text)))

    def add(self, columns: dict[str, pa.Array | None], n: int) -> None:
        """Validate one batch: canonical column → raw values (None: not in the file)."""
        given = {c: v for c, v in columns.items() if v is not None}
        text = {
            c: clean_text(v) if c != "timestamp" or _is_text(v) else v for c, v in given.items()
        }
        present = {c: _valid(v) for c, v in text.items()}
        why = np.zeros(n, np.int32)  # per row: 0 keep, else an index into reasons
        reasons: list[tuple[str, str]] = [("keep", "")]

        def flag(mask: np.ndarray, kind: str, label: str) -> None:
            hit = mask & (why == 0)
            if hit.any():
                reasons.append((kind, label))
                why[hit] = len(reasons) - 1

        flag(~np.logical_or.reduce([*present.values(), np.zeros(n, bool)]), "blank", "")
        for c in REQUIRED:
            flag(~present.get(c, np.zeros(n, bool)), "bad", f"missing {c}")
        code, index, names = adapters.decode_interactions(
            text.get("interaction", pa.nulls(n, pa.string())), self.codes
        )
        for j in np.unique(index[(why == 0) & (code < 0)]):
            label = normalise_name(names[j])
            ignored = self.codes.get(label, UNKNOWN) != UNKNOWN
            flag(
                index == j,
                *(("ignored", label) if ignored else ("bad", f"unknown interaction {names[j]!r}")),
            )
        stamp = text.get("timestamp", pa.nulls(n, pa.string()))
        secs, ok = adapters.decode_timestamps(
            stamp, self.adapter.timestamp_unit, self.adapter.timestamp_year
        )
        flag(~ok, "bad", "unparsable timestamp")
        outside = np.zeros(n, bool)
        if self.since is not None:
            outside |= secs < self.since
        if self.until is not None:
            outside |= secs >= self.until
        if self.season is not None:
            outside &= (secs < self.season[0]) | (secs >= self.season[1])
        flag(outside, "window", "")
        self._count(why, reasons, given)
        keep = why == 0
        mask = None if keep.all() else pa.array(keep)
        for c in _SPARSE_COLUMNS:
            if c in given and c not in self.sparse:  # -1 for the rows before
                self.sparse.append(c)
                self.ids[c].codes.extend(np.full(self.interaction.size, -1, np.int32))
        if "query" in text:
            text["query"] = normalise_query(text["query"])
        for c in _ID_COLUMNS + tuple(self.sparse):
            values = text.get(c, pa.nulls(n, pa.string()))
            self.ids[c].add(values if mask is None else values.filter(mask))
        if "impressions" in text:
            self._add_impressions(text["impressions"], keep)
        self.interaction.extend(code[keep])
        self.timestamp.extend(secs[keep])

    def _add_impressions(self, values: pa.Array, keep: np.ndarray) -> None:
        """Split each kept row's impressions into (row, shown item) pairs; blanks are dropped."""
        if self.impression_row is None:
            self.impression_row = _Growing(np.int64)
        lists = pc.split_pattern(values, IMPRESSION_SEPARATOR)
        parent = pc.list_parent_indices(lists).to_numpy()
        shown = clean_text(pc.list_flatten(lists))
        wanted = keep[parent] & _valid(shown)
        row = self.interaction.size + np.cumsum(keep) - 1  # each kept row's index in the log
        self.impression_row.extend(row[parent[wanted]])
        self.impression_item.add(shown.filter(pa.array(wanted)))

    def _count(
        self, why: np.ndarray, reasons: list[tuple[str, str]], given: dict[str, pa.Array]
    ) -> None:
        counts = np.bincount(why, minlength=len(reasons)).tolist()
        for (kind, label), count in zip(reasons[1:], counts[1:], strict=True):
            if kind == "bad":
                self.bad[label] += count
            elif kind == "ignored":
                self.ignored[label] += count
            self.out_of_window += count if kind == "window" else 0
        self.rows_read += len(why) - (counts[1] if reasons[1:2] == [("blank", "")] else 0)
        bad = [j for j, (kind, _) in enumerate(reasons) if kind == "bad"]
        need = MAX_EXAMPLES - len(self.row_examples)
        for i in np.flatnonzero(np.isin(why, bad))[: max(need, 0)].tolist():
            row = ", ".join(f"{self.adapter.source(c)}={v[i].as_py()!r}" for c, v in given.items())
            self.row_examples.append((self.rows + i, reasons[why[i]][1], _short(row)))
        self.rows += len(why)

    def finish(self, path: str, lines: _Lines, numbering: str) -> EventLog:
        examples = self.line_examples + [(lines.line_of(k), r, t) for k, r, t in self.row_examples]
        user, user_ids = self.ids["user_id"].finish()
        item, item_ids = self.ids["item_id"].finish()
        category, category_ids = self.ids["category_id"].finish()
        sparse = {
            c: self.ids[c].finish() if c in self.sparse else (None, None) for c in _SPARSE_COLUMNS
        }
        impressions = None
        if self.impression_row is not None:
            impressions = Impressions(self.impression_row.array(), *self.impression_item.finish())
        report = LoadReport(
            path=path,
            rows_read=self.rows_read,
            rows_kept=len(user),
            bad=BadRows(dict(self.bad), sorted(examples)[:MAX_EXAMPLES]),
            ignored=dict(self.ignored),
            out_of_window=self.out_of_window,
            numbering=numbering,
        )
        interaction, timestamp = self.interaction.array(), self.timestamp.array()
        no_ids = np.array([], object)
        shop, shop_ids = sparse["shop_id"]
        query, query_ids = sparse["query"]
        return EventLog(
            user, item, interaction, timestamp, category, sparse["session_id"][0],
            user_ids, item_ids, category_ids, report,
            shop=shop, query=query,
            shop_ids=no_ids if shop_ids is None else shop_ids,
            query_ids=no_ids if query_ids is None else query_ids,
            impressions=impressions,
        )  # fmt: skip


def _read_csv(path: Path, builder: _Builder, progress: bool) -> _Lines:
    adapter, compression = builder.adapter, _COMPRESSION.get(path.suffix.lower())
    with _open(path, compression) as (raw, stream):
        start = stream.read(1 << 20)
    head = start.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r")
    fields = next(csv.reader([head]), [])
    expected = adapter.headerless_columns
    has_header = expected is None or [normalise_name(f) for f in fields] == list(expected)
    names = fields if has_header or expected is None else list(expected)
    columns = _columns(path, adapter, names)
    lines = _Lines(header=1 if has_header else 0)
    if not start:
        return lines

    def on_invalid(row: pcsv.InvalidRow) -> str:
        lines.skipped.append(row.number or 0)
        reason = f"wrong number of fields (expected {row.expected_columns})"
        builder.skipped_line(row.number or 0, reason, row.text)
        return "skip"

    with _open(path, compression) as (raw, stream), _bar(path, progress, raw.size()) as bar:
        reader = pcsv.open_csv(
            stream,
            read_options=pcsv.ReadOptions(
                use_threads=False,  # InvalidRow.number (the line) is only known single-threaded
                block_size=_CSV_BLOCK,
                column_names=None if has_header else names,
            ),
            parse_options=pcsv.ParseOptions(
                invalid_row_handler=on_invalid, ignore_empty_lines=False
            ),
            convert_options=pcsv.ConvertOptions(
                include_columns=list(columns.values()),
                column_types={s: pa.string() for s in columns.values()},
            ),
        )
        for batch in reader:
            builder.add({c: batch.column(s) for c, s in columns.items()}, batch.num_rows)
            bar.update(raw.tell() - bar.n)
    return lines


def _read_jsonl(path: Path, builder: _Builder, progress: bool) -> _Lines:
    lines, first = _Lines(), True
    wanted = {c: builder.adapter.source(c) for c in REQUIRED + OPTIONAL}
    with (
        _open(path, _COMPRESSION.get(path.suffix.lower())) as (raw, stream),
        _bar(path, progress, raw.size()) as bar,
    ):
        line0 = 0
        for chunk in _line_chunks(stream):
            n_lines = chunk.count(b"\n") + (not chunk.endswith(b"\n"))
            table = _json_table(chunk, n_lines, set(wanted.values()))
            if table is None:
                columns, n = _json_rows(chunk, line0, wanted, builder, lines)
                found = [wanted[c] for c, v in columns.items() if v is not None]
            else:
                table, n, found = table.combine_chunks(), table.num_rows, table.column_names
                columns = {c: table[s].chunk(0) if s in found else None for c, s in wanted.items()}
            if first:
                _columns(path, builder.adapter, found)
                first = False
            builder.add(columns, n)
            line0 += n_lines
            bar.update(raw.tell() - bar.n)
    return lines


def _read_parquet(path: Path, builder: _Builder, progress: bool) -> _Lines:
    parquet = pq.ParquetFile(path)
    columns = _columns(path, builder.adapter, parquet.schema_arrow.names)
    with _bar(path, progress, parquet.metadata.num_rows, unit="rows") as bar:
        batches = parquet.iter_batches(_PARQUET_BATCH, columns=sorted(set(columns.values())))
        for batch in batches:
            builder.add({c: batch.column(s) for c, s in columns.items()}, batch.num_rows)
            bar.update(batch.num_rows)
    return _Lines()


def _columns(path: Path, adapter: Adapter, found: list[str]) -> dict[str, str]:
    """Canonical column → the file's column; EventLogError when a required one is missing."""
    missing = [adapter.source(c) for c in REQUIRED if adapter.source(c) not in found]
    if missing:
        raise EventLogError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"expected {', '.join(adapter.source(c) for c in REQUIRED)} (required) and "
            f"{', '.join(adapter.source(c) for c in OPTIONAL)} (optional) "
            f"for adapter {adapter.name!r}; found {', '.join(map(repr, found)) or 'none'}"
        )
    return {c: adapter.source(c) for c in REQUIRED + OPTIONAL if adapter.source(c) in found}


def _line_chunks(stream: pa.NativeFile) -> Iterator[bytes]:
    """The stream in pieces of whole lines, about _JSONL_CHUNK bytes each."""
    rest = b""
    while block := stream.read(_JSONL_CHUNK):
        data = rest + block
        cut = data.rfind(b"\n") + 1
        if cut:
            yield data[:cut]
        rest = data[cut:]
    if rest:
        yield rest


def _json_table(chunk: bytes, n_lines: int, wanted: set[str]) -> pa.Table | None:
    """The chunk read by pyarrow, or None when it is not one flat object per line."""
    try:
        table = pjson.read_json(io.BytesIO(chunk))
    except pa.ArrowInvalid:
        return None
    nested = any(pa.types.is_nested(f.type) for f in table.schema if f.name in wanted)
    return None if nested or table.num_rows != n_lines else table


def _json_rows(
    chunk: bytes, line0: int, wanted: dict[str, str], builder: _Builder, lines: _Lines
) -> tuple[dict[str, pa.Array | None], int]:
    """The slow path for chunks with blank or broken lines: one json.loads per line."""
    values: dict[str, list[str | None]] = {c: [] for c in wanted}
    pieces = chunk.split(b"\n")[: chunk.count(b"\n") + (not chunk.endswith(b"\n"))]
    for i, piece in enumerate(pieces, start=line0 + 1):
        try:
            obj = json.loads(piece) if piece.strip() else None
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            lines.skipped.append(i)
            if piece.strip():
                builder.skipped_line(i, "not a JSON object", piece.decode("utf-8", "replace"))
            continue
        for c, source in wanted.items():
            values[c].append(_json_text(obj.get(source)))
    n = len(values["user_id"])
    columns = {c: pa.array(v, pa.string()) for c, v in values.items()}
    return {c: v if v.null_count < n else None for c, v in columns.items()}, n


def _json_text(value: object) -> str | None:
    """A JSON value as the fast path's cast writes it: 7 and 7.0 → "7", true → "true"."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return IMPRESSION_SEPARATOR.join(map(str, value))  # impressions as a JSON array
    return value if value is None or isinstance(value, str) else json.dumps(value)


@contextmanager
def _open(path: Path, compression: str | None) -> Iterator[tuple[pa.NativeFile, pa.NativeFile]]:
    """The raw file (its position drives the progress bar) and the decompressed stream."""
    raw = pa.OSFile(str(path))
    try:
        yield raw, pa.CompressedInputStream(raw, compression) if compression else raw
    finally:
        raw.close()


def _bar(path: Path, progress: bool, total: int, unit: str = "B") -> tqdm:
    return bar(total=total, unit=unit, unit_scale=True, desc=path.name, enabled=progress)


def normalise_query(values: pa.Array) -> pa.Array:
    """Search queries as one token each: lower case, runs of blanks as one space."""
    return pc.replace_substring_regex(pc.utf8_lower(values), r"\s+", " ")


def _is_text(values: pa.Array) -> bool:
    return pa.types.is_string(values.type) or pa.types.is_large_string(values.type)


def _valid(values: pa.Array) -> np.ndarray:
    return values.is_valid().to_numpy(zero_copy_only=False)


def _seconds(moment: datetime | None) -> int | None:
    """Unix seconds of the first whole second at or after `moment`; naive means UTC."""
    if moment is None:
        return None
    return math.ceil((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
