"""The prepared format: what ``prepare`` writes and ``train --prepared`` reads (docs/spark.md).

Both engines (trainer/prepare/local.py, trainer/prepare/spark.py) write it and this module is
its one definition: the folder layout, each table's columns, the writer of the small files and
the readers of everything. Every table is a folder of Parquet parts read in name order (what
Spark writes, and what the local engine imitates with ``part-00000.parquet``), so a table made
by a cluster and one made on a laptop read the same way::

    PREPARED/manifest.json                  format, format_version, engine, created_at, source,
                                            config (the preparing sections), report, statistics
    PREPARED/dictionaries/{user,item,category,shop,query}/   code int32, id string
                                            the log's ids by code: order of first appearance
    PREPARED/events/                        row int64, user, item int32, interaction int8,
                                            timestamp int64, category int32 (-1: none)
                                            [, session, shop, query int32]: the validated log
    PREPARED/impressions/                   row int64, item string [, pos int32]: the items
                                            shown above a click (only with impressions)
    PREPARED/sessions/                      session int64 (order key), user int32, start int64,
                                            item list<int32>, interaction list<int8>,
                                            row list<int64>: trainer/sessions.py's Sessions
    PREPARED/vocab/items/                   row int32, item int32 (log code), category int32,
                                            count int64
    PREPARED/vocab/tokens/                  token int32, item int32 (vocab row),
                                            interaction int8, count int64
    PREPARED/vocab/entities/                token int32 (after the pairs), kind int8,
                                            code int32, count int64
    PREPARED/corpus/pairs/                  session int64 (order key), tokens list<int32>
                                            [, implicit list<list<int32>>]: encode_pairs
    PREPARED/corpus/items/                  session int64 (order key), tokens list<int32>
    PREPARED/popular/                       contracts/popular.py's folder (format 1:
                                            popular.json, still read)

Codes are the local loader's (trainer/events.py: order of first appearance in file order,
files in name order), so sessions, vocabulary and corpus rows mean the same in both engines and
the parity test can compare them array by array. Readers turn list columns into flat int32
arrays and offsets (pyarrow buffers, memory-mapped files): no Python object per row or token.
An order key sorts a table's rows (engines may number with gaps); readers sort only parts
written out of order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from contracts.catalog import ENTITY_KINDS
from contracts.interactions import N_INTERACTIONS
from contracts.popular import Popular
from trainer.entities import EntityVocab
from trainer.events import BadRows, EventLog, Impressions, LoadReport
from trainer.sessions import Sessions
from trainer.vocab import Corpus, Vocab

FORMAT = "interaction-candidates/prepared"
FORMAT_VERSION = 2
"""2: the popular lists as contracts/popular.py's arrays (POPULAR), not POPULAR_JSON."""
READABLE_FORMAT_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
POPULAR = "popular"
POPULAR_JSON = "popular.json"
DICTIONARIES = ("user", "item", "category", "shop", "query")
EVENTS, IMPRESSIONS, SESSIONS = "events", "impressions", "sessions"
VOCAB_ITEMS, VOCAB_TOKENS, VOCAB_ENTITIES = "vocab/items", "vocab/tokens", "vocab/entities"
PAIRS, ITEMS = "corpus/pairs", "corpus/items"
PART = "part-00000.parquet"  # the local engine's one part; Spark writes part-NNNNN-<uuid>…
# The config sections a prepared folder is made with; train takes them from the manifest.
PREPARING = ("data", "sessions", "vocab", "entities", "popular")
PREPARING_NEGATIVES = ("implicit", "implicit_max")


class PreparedError(Exception):
    """The folder is not a prepared folder this trainer reads, or a table is missing."""


def dictionary_dir(kind: str) -> str:
    return f"dictionaries/{kind}"


def read_table(root: Path, name: str, columns: list[str] | None = None) -> pa.Table:
    """Every Parquet part of table ``name`` in name order, memory-mapped, as one table."""
    folder = root / name
    parts = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith((".", "_")))
    if not parts:
        raise PreparedError(f"{root} has no table {name!r}; was it written by `prepare`?")
    tables = [pq.read_table(p, columns=columns, memory_map=True) for p in parts]
    return pa.concat_tables(tables, promote_options="permissive")


def row_count(root: Path, name: str) -> int:
    """Rows of table ``name``, from the parts' footers (nothing is read)."""
    parts = sorted((root / name).glob("*.parquet"))
    if not parts:
        raise PreparedError(f"{root} has no table {name!r}; was it written by `prepare`?")
    return sum(pq.ParquetFile(p).metadata.num_rows for p in parts)


def write_table(root: Path, name: str, table: pa.Table) -> None:
    """The local engine's table: one Parquet part (Spark writes many; readers take both)."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / PART, row_group_size=1 << 20)


def ordered(table: pa.Table, key: str) -> pa.Table:
    """``table`` sorted by ``key`` unless its parts already came in order (the usual case)."""
    if table.num_rows < 2:
        return table
    values = table.column(key).to_numpy()
    if np.all(values[1:] >= values[:-1]):
        return table
    return table.sort_by(key)


def _flat(column: pa.ChunkedArray, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """A list column as its flat values and int64 offsets (one list per row)."""
    values, lengths = [], []
    for chunk in column.chunks:
        values.append(pc.list_flatten(chunk).to_numpy(zero_copy_only=False))
        lengths.append(pc.list_value_length(chunk).fill_null(0).to_numpy(zero_copy_only=False))
    flat = np.concatenate(values) if values else np.zeros(0, dtype)
    flat = flat.astype(dtype, copy=False)
    length = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    offsets = np.zeros(len(length) + 1, np.int64)
    np.cumsum(length, out=offsets[1:])
    return flat, offsets


def list_array(values: np.ndarray, offsets: np.ndarray) -> pa.Array:
    """Flat ``values`` cut at ``offsets`` as a list column (large offsets past 2**31 values)."""
    if len(values) >= 2**31 - 1:
        return pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), pa.array(values))
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values))


@dataclass(frozen=True)
class Manifest:
    """``manifest.json``: what a prepared folder holds and how it was made."""

    raw: dict[str, Any]

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.raw["config"])

    @property
    def statistics(self) -> dict[str, Any]:
        return dict(self.raw["statistics"])

    @property
    def report(self) -> LoadReport:
        return report_from_json(self.raw["report"])


def report_from_json(r: dict[str, Any]) -> LoadReport:
    examples = [(int(n), str(why), str(row)) for n, why, row in r["bad"]["examples"]]
    return LoadReport(
        path=r["path"],
        rows_read=int(r["rows_read"]),
        rows_kept=int(r["rows_kept"]),
        bad=BadRows(dict(r["bad"]["counts"]), examples),
        ignored=dict(r["ignored"]),
        out_of_window=int(r["out_of_window"]),
        numbering=r["numbering"],
    )


def report_json(report: LoadReport) -> dict[str, Any]:
    return {
        "path": report.path,
        "rows_read": report.rows_read,
        "rows_kept": report.rows_kept,
        "bad": {"counts": report.bad.counts, "examples": [list(e) for e in report.bad.examples]},
        "ignored": report.ignored,
        "out_of_window": report.out_of_window,
        "numbering": report.numbering,
    }


def write_manifest(root: Path, fields: dict[str, Any]) -> None:
    """The manifest last: a folder without one is an unfinished ``prepare``."""
    raw = {"format": FORMAT, "format_version": FORMAT_VERSION, **fields}
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(raw, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(root / MANIFEST)


def read_manifest(root: Path) -> Manifest:
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise PreparedError(f"{root} has no {MANIFEST}: not a prepared folder, or unfinished")
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("format") != FORMAT or raw.get("format_version") not in READABLE_FORMAT_VERSIONS:
        readable = " and ".join(map(str, READABLE_FORMAT_VERSIONS))
        raise PreparedError(
            f"{path}: format {raw.get('format')!r} version {raw.get('format_version')!r}; "
            f"this trainer reads {FORMAT!r} versions {readable}: run `prepare` again"
        )
    return Manifest(raw)


def read_dictionary(root: Path, kind: str) -> np.ndarray:
    """The ids of ``kind`` by code, as the loader's object array of str."""
    table = ordered(read_table(root, dictionary_dir(kind)), "code")
    if table.num_rows == 0:
        return np.array([], object)
    codes = table.column("code").to_numpy()
    if not np.array_equal(codes, np.arange(len(codes))):
        raise PreparedError(f"{root}: dictionary {kind!r} has gaps in its codes")
    return table.column("id").to_numpy(zero_copy_only=False).astype(object)


def read_events(root: Path) -> EventLog:
    """The validated event log, as trainer/events.py's EventLog (for the validation split)."""
    manifest = read_manifest(root)
    table = ordered(read_table(root, EVENTS), "row")
    names = set(table.column_names)

    def column(name: str, dtype: type) -> np.ndarray:
        return table.column(name).to_numpy().astype(dtype, copy=False)

    def optional(name: str) -> np.ndarray | None:
        return column(name, np.int32) if name in names else None

    impressions = None
    if manifest.raw.get("impressions"):
        shown = ordered(read_table(root, IMPRESSIONS), "row")
        encoded = pc.dictionary_encode(shown.column("item").combine_chunks())
        impressions = Impressions(
            shown.column("row").to_numpy().astype(np.int64),
            encoded.indices.to_numpy().astype(np.int32),
            encoded.dictionary.to_numpy(zero_copy_only=False).astype(object),
        )
    return EventLog(
        user=column("user", np.int32),
        item=column("item", np.int32),
        interaction=column("interaction", np.int8),
        timestamp=column("timestamp", np.int64),
        category=column("category", np.int32),
        session=optional("session"),
        user_ids=read_dictionary(root, "user"),
        item_ids=read_dictionary(root, "item"),
        category_ids=read_dictionary(root, "category"),
        report=manifest.report,
        shop=optional("shop"),
        query=optional("query"),
        shop_ids=read_dictionary(root, "shop"),
        query_ids=read_dictionary(root, "query"),
        impressions=impressions,
    )


def read_sessions(root: Path) -> Sessions:
    table = ordered(read_table(root, SESSIONS), "session")
    item, offsets = _flat(table.column("item"), np.int32)
    interaction, _ = _flat(table.column("interaction"), np.int8)
    row, _ = _flat(table.column("row"), np.int64)
    return Sessions(
        item=item,
        interaction=interaction,
        offsets=offsets,
        user=table.column("user").to_numpy().astype(np.int32),
        start=table.column("start").to_numpy().astype(np.int64),
        dropped_short=int(read_manifest(root).statistics["sessions_dropped_short"]),
        row=row,
    )


def read_vocab(root: Path) -> Vocab:
    items = ordered(read_table(root, VOCAB_ITEMS), "row")
    tokens = ordered(read_table(root, VOCAB_TOKENS), "token")
    item_ids = read_dictionary(root, "item")
    log_item = items.column("item").to_numpy().astype(np.int64)
    token_item = tokens.column("item").to_numpy().astype(np.int32)
    inter = tokens.column("interaction").to_numpy().astype(np.int8)
    item_token = np.full((len(log_item), N_INTERACTIONS), -1, np.int32)
    item_token[token_item, inter] = np.arange(len(token_item), dtype=np.int32)
    return Vocab(
        item_ids=item_ids[log_item],
        item_category=items.column("category").to_numpy().astype(np.int32),
        item_count=items.column("count").to_numpy().astype(np.int64),
        category_ids=read_dictionary(root, "category"),
        token_item=token_item,
        token_interaction=inter,
        token_count=tokens.column("count").to_numpy().astype(np.int64),
        item_token=item_token,
        entities=_read_entities(root),
    )


def _read_entities(root: Path) -> EntityVocab:
    table = ordered(read_table(root, VOCAB_ENTITIES), "token")
    if table.num_rows == 0:
        return EntityVocab.empty()
    kind = table.column("kind").to_numpy().astype(np.int8)
    code = table.column("code").to_numpy().astype(np.int32)
    ids = np.empty(len(kind), object)
    for k, name in enumerate(ENTITY_KINDS):
        mine = kind == k
        if mine.any():
            ids[mine] = read_dictionary(root, name)[code[mine]]
    return EntityVocab(kind, code, ids, table.column("count").to_numpy().astype(np.int64))


def read_corpus(root: Path, name: str, n_tokens: int, implicit: bool = False) -> Corpus:
    """A corpus as encode_pairs / encode_items return it; ``implicit`` reads the negatives."""
    columns = ["session", "tokens"] + (["implicit"] if implicit else [])
    table = read_table(root, name)
    if implicit and "implicit" not in table.column_names:
        columns, implicit = columns[:2], False
    table = ordered(table.select(columns) if table.num_rows else table, "session")
    if table.num_rows == 0:
        empty = np.zeros(0, np.int32)
        return Corpus(empty, np.zeros(1, np.int64), np.zeros(n_tokens, np.int64))
    tokens, offsets = _flat(table.column("tokens"), np.int32)
    counts = np.bincount(tokens, minlength=n_tokens).astype(np.int64)
    negatives = None
    if implicit:
        per_position = pa.chunked_array(
            [pc.list_flatten(c) for c in table.column("implicit").chunks]
        )
        values, starts = _flat(per_position, np.int32)
        negatives = (starts, values)
    return Corpus(tokens, offsets, counts, negatives)


def read_popular(root: Path) -> Popular:
    """The popular lists: memory-mapped (format 2), or a format-1 folder's ``popular.json``."""
    old = Path(root) / POPULAR_JSON
    return Popular.from_json(old) if old.is_file() else Popular.open(Path(root) / POPULAR)


def statistics_of(report: LoadReport, counted: dict[str, Any], vocab: Vocab) -> dict[str, Any]:
    """The manifest's ``statistics``: what pipeline.data_statistics says of a version.

    ``counted``: events, users, time_range, impressions, categories, sessions,
    sessions_dropped_short, session_pairs — what the engine counted of the log.
    """
    return {
        "source": report.path,
        "rows_read": report.rows_read,
        "bad_rows": report.bad.counts,
        "ignored_rows": report.ignored,
        "out_of_window": report.out_of_window,
        **counted,
        "items": vocab.n_items,
        "pairs": vocab.n_tokens,
        "pairs_per_interaction": vocab.pairs_per_interaction(),
        "entities_per_kind": vocab.entities.per_kind(),
    }


def write_vocab(out: Path, vocab: Vocab, log_item: np.ndarray) -> None:
    """The vocabulary's tables; ``log_item`` is each item row's code in the log's dictionary."""
    items = {
        "row": np.arange(vocab.n_items, dtype=np.int32),
        "item": log_item.astype(np.int32),
        "category": vocab.item_category.astype(np.int32),
        "count": vocab.item_count.astype(np.int64),
    }
    write_table(out, VOCAB_ITEMS, pa.table(items))
    tokens = {
        "token": np.arange(vocab.n_tokens, dtype=np.int32),
        "item": vocab.token_item.astype(np.int32),
        "interaction": vocab.token_interaction.astype(np.int8),
        "count": vocab.token_count.astype(np.int64),
    }
    write_table(out, VOCAB_TOKENS, pa.table(tokens))
    entities = vocab.entities
    table = {
        "token": pa.array(vocab.n_tokens + np.arange(len(entities)), pa.int32()),
        "kind": pa.array(entities.kind, pa.int8()),
        "code": pa.array(entities.code, pa.int32()),
        "count": pa.array(entities.count, pa.int64()),
    }
    write_table(out, VOCAB_ENTITIES, pa.table(table))


def preparing_config(config: dict[str, Any]) -> dict[str, Any]:
    """The sections of a full config (``model_dump(mode="json")``) that preparation uses."""
    prepared = {section: config[section] for section in PREPARING}
    prepared["negatives"] = {k: config["negatives"][k] for k in PREPARING_NEGATIVES}
    return prepared
