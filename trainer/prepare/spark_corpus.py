"""The Spark engine's corpus step: trainer/vocab.py encode_pairs and encode_items in the cluster.

A session's pair tokens are preceded by the entity tokens they bring (query, category, shop:
trainer/entities.py), out-of-vocabulary tokens are removed and sessions left with fewer than
two tokens dropped; a click's implicit negatives are the pairs, of its interaction, of the items
shown above it, the last shown first, at most ``negatives.implicit_max``. The item corpus is one
token per item with consecutive repeats collapsed (before out-of-vocabulary items are removed,
as ``_compact`` does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from contracts.catalog import ENTITY_KINDS
from trainer.prepare import format as fmt
from trainer.prepare.spark import WORK
from trainer.prepare.spark_steps import lookup
from trainer.vocab import Vocab

if TYPE_CHECKING:
    from trainer.prepare.spark import _Job

_NO_NEGATIVES = F.array().cast("array<int>")


def encode(job: _Job, marked: DataFrame, vocab: Vocab, log_item: np.ndarray, shown: bool) -> None:
    """Write the pairs and items corpora of the session pairs ``marked`` (mark_entities)."""
    tokens = lookup(
        job,
        {"item": log_item[vocab.token_item], "interaction": vocab.token_interaction,
         "token": np.arange(vocab.n_tokens)},
        {"item": pa.int32(), "interaction": pa.int8(), "token": pa.int32()},
    )  # fmt: skip
    rows = lookup(
        job,
        {"item": log_item, "vrow": np.arange(vocab.n_items)},
        {"item": pa.int32(), "vrow": pa.int32()},
    )
    df = marked.join(tokens, ["item", "interaction"], "left").join(rows, "item", "left")
    slots = []
    for k, kind in enumerate(ENTITY_KINDS):
        mine = np.flatnonzero(vocab.entities.kind == k)
        if not len(mine):
            continue
        table = lookup(
            job,
            {kind: vocab.entities.code[mine], f"token_{kind}": vocab.n_tokens + mine},
            {kind: pa.int32(), f"token_{kind}": pa.int32()},
        )
        df = df.join(table, kind, "left")
        token = F.when(F.col(f"new_{kind}"), F.col(f"token_{kind}"))
        slots.append(F.struct(token.alias("token"), _NO_NEGATIVES.alias("implicit")))
    implicit = job.config.negatives.implicit
    negatives: Column = _NO_NEGATIVES
    if implicit and shown:
        df = df.join(_implicit(job, df, tokens), ["session", "pos"], "left")
        negatives = F.coalesce(F.col("negatives"), _NO_NEGATIVES)
    slots.append(F.struct(F.col("token").alias("token"), negatives.alias("implicit")))
    df = df.withColumn("slots", F.filter(F.array(*slots), lambda s: s["token"].isNotNull()))
    sessions = df.groupBy("session").agg(
        F.sort_array(F.collect_list(F.struct("pos", "slots", "vrow"))).alias("s")
    )
    sessions = job.write(sessions, f"{WORK}/encoded")  # both corpora start from here
    flat = F.flatten(F.transform("s", lambda x: x["slots"]))
    pairs = sessions.select("session", flat.alias("slots")).where(F.size("slots") >= 2)
    columns = [F.transform("slots", lambda x: x["token"]).alias("tokens")]
    if implicit:
        columns.append(F.transform("slots", lambda x: x["implicit"]).alias("implicit"))
    job.write(pairs.select("session", *columns), fmt.PAIRS, ["session"])

    item_rows = F.transform("s", lambda x: x["vrow"])
    kept = F.filter(
        item_rows,
        lambda x, i: x.isNotNull() & (x != F.coalesce(F.get(item_rows, i - 1), F.lit(-1))),
    )
    items = sessions.select("session", kept.alias("tokens")).where(F.size("tokens") >= 2)
    job.write(items, fmt.ITEMS, ["session"])


def _implicit(job: _Job, pairs: DataFrame, tokens: DataFrame) -> DataFrame:
    """(session, pos, negatives): each in-vocabulary click's implicit negatives, nearest first."""
    shown = job.spark.read.schema("row long, pos int, item string").parquet(
        job.path(fmt.IMPRESSIONS)
    )
    ids = job.spark.read.schema("code int, id string").parquet(job.path(fmt.dictionary_dir("item")))
    shown = shown.join(ids, shown["item"] == ids["id"]).select(
        "row", F.col("pos").alias("shown_pos"), F.col("code").alias("shown")
    )
    clicks = pairs.where(F.col("token").isNotNull()).select(
        "session", "pos", "row", "interaction", F.col("token").alias("click")
    )
    negative = tokens.select(
        F.col("item").alias("shown"), "interaction", F.col("token").alias("negative")
    )
    found = (
        shown.join(clicks, "row")
        .join(negative, ["shown", "interaction"])
        .where(F.col("negative") != F.col("click"))
    )
    nearest = Window.partitionBy("session", "pos").orderBy(F.col("shown_pos").desc())
    found = found.withColumn("rank", F.row_number().over(nearest)).where(
        F.col("rank") <= job.config.negatives.implicit_max
    )
    ordered = F.sort_array(F.collect_list(F.struct("shown_pos", "negative")), asc=False)
    return found.groupBy("session", "pos").agg(
        F.transform(ordered, lambda x: x["negative"]).alias("negatives")
    )
