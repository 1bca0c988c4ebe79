"""The Spark engine's steps after loading: codes, sessions, vocabulary, corpus, popular items.

Each step is the rule of a local module (named in its docstring) written as DataFrame
operations; trainer/prepare/spark.py runs them in order. Imported by spark.py only, after
pyspark is known to be importable.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from contracts.catalog import ENTITY_KINDS
from contracts.interactions import N_INTERACTIONS, Interaction
from contracts.popular import Popular
from trainer.entities import EntityVocab, vocab_of_counts
from trainer.popular import rank_popular
from trainer.prepare import format as fmt
from trainer.prepare.spark import WORK, dense_index
from trainer.vocab import Vocab

if TYPE_CHECKING:
    from trainer.prepare.spark import _Job

ID_COLUMNS = {"user": "user_id", "item": "item_id", "category": "category_id",
              "shop": "shop_id", "query": "query"}  # fmt: skip


def encode(job: _Job, loaded: DataFrame, columns: list[str]) -> DataFrame:
    """trainer/events.py's codes: each id's rank by first appearance (global row order); the
    dictionaries are written, the events table returned with int32 codes (-1: none).

    All kinds are ranked in one sort (by kind, then first row); a kind's codes start where the
    previous kind's end. A ``session_id`` is ranked with its file (sources.py).
    """
    kinds = {k: c for k, c in ID_COLUMNS.items() if k not in ("shop", "query") or k in columns}
    parts = [
        loaded.where(F.col(c).isNotNull()).select(
            F.lit(k).alias("kind"), F.col(c).alias("id"), "row"
        )
        for k, c in kinds.items()
    ]
    session_key = F.concat_ws(":", F.col("file").cast("string"), F.col("session").cast("string"))
    if "session" in columns:
        parts.append(
            loaded.where(F.col("session").isNotNull()).select(
                F.lit("session").alias("kind"), session_key.alias("id"), "row"
            )
        )
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    firsts = union.groupBy("kind", "id").agg(F.min("row").alias("first"))
    indexed = dense_index(firsts, ["kind", "first"], "index")
    starts = {r["kind"]: r["start"] for r in indexed.groupBy("kind").agg(
        F.min("index").alias("start")).collect()}  # fmt: skip
    start = F.create_map(*[F.lit(x) for k, v in starts.items() for x in (k, v)])
    codes = indexed.select(
        "kind", "id", (F.col("index") - start[F.col("kind")]).cast("int").alias("code")
    )
    written = job.work / "dictionaries"
    codes.where(F.col("kind") != "session").write.partitionBy("kind").parquet(str(written))
    for kind in ID_COLUMNS:  # one job wrote them all; each kind's folder is a table
        if (written / f"kind={kind}").is_dir():
            (job.out / fmt.dictionary_dir(kind)).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(written / f"kind={kind}", job.out / fmt.dictionary_dir(kind))
        else:
            empty = pa.table({"code": pa.array([], pa.int32()), "id": pa.array([], pa.string())})
            fmt.write_table(job.out, fmt.dictionary_dir(kind), empty)
    coded = loaded.withColumn("session_key", session_key)
    names = {**kinds, **({"session": "session_key"} if "session" in columns else {})}
    for kind, column in names.items():
        table = codes.where(F.col("kind") == kind).select("code", "id")
        coded = coded.drop(kind) if kind == "session" else coded
        coded = coded.join(table, F.col(column) == F.col("id"), "left")
        coded = coded.withColumn(kind, F.coalesce(F.col("code"), F.lit(-1))).drop("code", "id")
    wanted = ["row", "user", "item", "interaction", "timestamp", "category"]
    wanted += [c for c in ("session", "shop", "query") if c in columns]
    return job.write(coded.select(*wanted), fmt.EVENTS, ["row"])


def item_categories(events: DataFrame) -> DataFrame:
    """trainer/vocab.py item_categories: each item's most frequent category, ties by code."""
    counted = events.where(F.col("category") >= 0).groupBy("item", "category").count()
    best = counted.groupBy("item").agg(
        F.max(F.struct(F.col("count"), (-F.col("category")).alias("neg"))).alias("m")
    )
    return best.select("item", (-F.col("m.neg")).cast("int").alias("item_category"))


def sessionize(job: _Job, events: DataFrame, item_category: DataFrame) -> tuple[DataFrame, int]:
    """trainer/sessions.py: per user by (session code,) time, row; cut at the log's session or
    the inactivity gap; consecutive repeats of a pair dropped; short sessions dropped. Writes
    the sessions table (key: the user and the session's rank among the user's: their order);
    returns its pairs (session, pos, row, item, interaction, trainer/entities.py's codes and
    new_* flags) and the number of short sessions dropped."""
    config = job.config.sessions
    has_session = "session" in events.columns
    df = events.withColumnRenamed("session", "log_session") if has_session else events
    df = df.join(item_category, "item", "left").withColumn(
        "category", F.coalesce(F.col("item_category"), F.lit(-1))
    )
    order = (["log_session"] if has_session else []) + ["timestamp", "row"]
    w = Window.partitionBy("user").orderBy(*order)

    def before(column: str) -> Column:
        return F.lag(column).over(w)

    if has_session:
        new = before("row").isNull() | (F.col("log_session") != before("log_session"))
    else:
        gap = F.col("timestamp") - before("timestamp") > F.lit(config.gap_minutes * 60.0)
        new = before("row").isNull() | gap
    df = df.withColumn("new", new)
    if config.dedupe_consecutive:
        same = (F.col("item") == before("item")) & (F.col("interaction") == before("interaction"))
        df = df.withColumn("dup", ~F.col("new") & F.coalesce(same, F.lit(False)))
    running = w.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    df = df.withColumn("run", F.sum(F.col("new").cast("long")).over(running))
    if config.dedupe_consecutive:
        df = df.where(~F.col("dup"))
    fields = ["timestamp", "row", "item", "interaction", "category"]
    fields += [c for c in ("shop", "query") if c in events.columns]
    grouped = df.groupBy("user", "run").agg(
        F.sort_array(F.collect_list(F.struct(*fields))).alias("pairs")
    )
    key = F.col("user").cast("long") * (1 << 32) + F.col("run")
    grouped = grouped.select(key.alias("session"), "user", "pairs", F.size("pairs").alias("n"))
    grouped = job.write(grouped, f"{WORK}/runs")
    counts = grouped.agg(F.count("*"), F.sum((F.col("n") >= config.min_pairs).cast("long")))
    total, kept = counts.first()  # type: ignore[misc]
    sessions = grouped.where(F.col("n") >= config.min_pairs)
    columns = [F.transform("pairs", _field(c)).alias(c) for c in ("item", "interaction", "row")]
    start = F.col("pairs")[0]["timestamp"].alias("start")
    job.write(sessions.select("session", "user", start, *columns), fmt.SESSIONS, ["session"])
    present = {"category", *events.columns}
    codes = {
        k: F.transform("pairs", _field(k, -1)) if k in present else F.array_repeat(F.lit(-1), "n")
        for k in ENTITY_KINDS
    }
    exploded = sessions.select(
        "session",
        F.posexplode("pairs").alias("pos", "p"),
        *(c.alias(f"code_{k}") for k, c in codes.items()),
    )
    marked = exploded.select(
        "session", "pos", "p.row", "p.item", "p.interaction",
        *(F.col(f"code_{k}")[F.col("pos")].alias(k) for k in ENTITY_KINDS),
        *(F.transform(f"code_{k}", _brings(F.col(f"code_{k}")))[F.col("pos")].alias(f"new_{k}")
          for k in ENTITY_KINDS),
    )  # fmt: skip
    return job.write(marked, f"{WORK}/marked"), int(total or 0) - int(kept or 0)


def _field(name: str, default: int | None = None) -> Callable[[Column], Column]:
    """A struct's field (``default`` where null) for ``transform``."""
    if default is None:
        return lambda x: x[name]
    return lambda x: F.coalesce(x[name], F.lit(default))


def _brings(codes: Column) -> Callable[[Column, Column], Column]:
    """entities.new_in_session: a code ≥ 0 that differs from the previous pair's."""
    return lambda c, i: (c >= 0) & (c != F.coalesce(F.get(codes, i - 1), F.lit(-1)))


def build_vocab(job: _Job, marked: DataFrame, item_category: DataFrame) -> tuple[Vocab, np.ndarray]:
    """trainer/vocab.py build_vocab over counts aggregated in the cluster; writes the vocab
    tables; returns it and each item row's log code."""
    config = job.config.vocab
    n_log = job.dictionary_size("item")
    counts = marked.groupBy("item", "interaction").count().toArrow()
    item = counts.column("item").to_numpy().astype(np.int64)
    inter = counts.column("interaction").to_numpy().astype(np.int64)
    pair_count = np.zeros((n_log, N_INTERACTIONS), np.int64)
    pair_count[item, inter] = counts.column("count").to_numpy()
    item_count = pair_count.sum(axis=1)

    kept_items = np.flatnonzero(item_count >= config.item_min_count)
    kept_items = kept_items[np.lexsort((kept_items, -item_count[kept_items]))]
    row_of_item = np.full(n_log, -1, dtype=np.int64)
    row_of_item[kept_items] = np.arange(len(kept_items))
    thresholds = np.array([config.min_count[i.label] for i in Interaction], dtype=np.int64)
    passes = (pair_count >= thresholds[None, :]) & (row_of_item >= 0)[:, None]
    log_item, inter = np.nonzero(passes)
    token_counts = pair_count[log_item, inter]
    order = np.lexsort((inter, row_of_item[log_item], -token_counts))
    log_item, inter, token_counts = log_item[order], inter[order], token_counts[order]
    token_item = row_of_item[log_item].astype(np.int32)
    item_token = np.full((len(kept_items), N_INTERACTIONS), -1, dtype=np.int32)
    item_token[token_item, inter] = np.arange(len(token_item), dtype=np.int32)
    category = job.item_category_array(item_category, n_log)
    vocab = Vocab(
        item_ids=fmt.read_dictionary(job.out, "item")[kept_items],
        item_category=category[kept_items],
        item_count=item_count[kept_items],
        category_ids=fmt.read_dictionary(job.out, "category"),
        token_item=token_item,
        token_interaction=inter.astype(np.int8),
        token_count=token_counts.astype(np.int64),
        item_token=item_token,
        entities=_entities(job, marked),
    )
    fmt.write_vocab(job.out, vocab, kept_items.astype(np.int32))
    return vocab, kept_items


def _entities(job: _Job, marked: DataFrame) -> EntityVocab:
    """Per kind, the new-entity counts from the cluster, kept as trainer/entities.py keeps them."""
    config = job.config.entities
    parts = []
    for k, kind in enumerate(ENTITY_KINDS):
        if kind not in config.kinds:
            continue
        size = job.dictionary_size(kind)
        counted = marked.where(F.col(f"new_{kind}")).groupBy(kind).count().toArrow()
        count = np.zeros(size, np.int64)
        count[counted.column(kind).to_numpy().astype(np.int64)] = counted.column("count").to_numpy()
        parts.append((k, count, fmt.read_dictionary(job.out, kind)))
    return vocab_of_counts(parts, config)


def popular(job: _Job, events: DataFrame, item_category: DataFrame) -> Popular:
    """trainer/popular.py: weighted interaction counts per item, ranked on the driver."""
    n_log = job.dictionary_size("item")
    counts = events.groupBy("item", "interaction").count().toArrow()
    weights = np.array([job.config.popular.weights.get(i.label, 0.0) for i in Interaction])
    item = counts.column("item").to_numpy().astype(np.int64)
    inter = counts.column("interaction").to_numpy().astype(np.int64)
    score = np.zeros(n_log, np.float64)
    np.add.at(score, item, counts.column("count").to_numpy() * weights[inter])
    return rank_popular(
        score,
        job.item_category_array(item_category, n_log),
        fmt.read_dictionary(job.out, "item"),
        fmt.read_dictionary(job.out, "category"),
        job.config.popular,
    )


def lookup(job: _Job, columns: dict[str, np.ndarray], types: dict[str, pa.DataType]) -> DataFrame:
    """A driver-side table as a DataFrame: written as Parquet into the scratch folder and read
    (no per-row Python, and no pandas, which ``createDataFrame`` of Arrow would need)."""
    table = pa.table({c: pa.array(v, types[c]) for c, v in columns.items()})
    folder = job.work / "lookup"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{len(list(folder.iterdir())):03d}.parquet"
    pq.write_table(table, path)
    schema = ", ".join(f"{c} {_SQL[types[c]]}" for c in columns)
    return job.spark.read.schema(schema).parquet(str(path))


_SQL = {pa.int8(): "byte", pa.int32(): "int", pa.int64(): "long"}
