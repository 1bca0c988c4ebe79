"""The Spark engine: ``prepare --engine spark``, the local engine's rules as one Spark job.

For logs that outgrow one machine (issue 15). Each step is the local code's rule, written for a
cluster, and tests/trainer/test_prepare_spark.py holds both engines to identical output:

* **load + validate**: one task per file runs the trainer's own loader (trainer/events.py) —
  the same adapters, mapping, validation and line numbers by construction — and writes the
  file's kept rows as Parquet (Arrow batches, no Python object per row); the driver merges the
  files' reports. A file is read by one task, so shard big logs into many files. The output
  folder must be a path every executor and the driver see (local mode, a shared volume).
* **codes**: every id gets the local loader's code, its rank by first appearance (files in
  name order, then rows), so rows, sessions and vocabularies sort the same in both engines.
* **sessions**: window functions per user, ordered by (session code,) time, row: the 30-minute
  gap (or the log's ``session_id``), consecutive repeats dropped, short sessions dropped.
* **vocabulary**: pair, item and entity counts are aggregated in the cluster; the thresholds
  and the ordering run on the driver over those counts (one row per item: small).
* **corpus**: token ids joined onto the session pairs; entity tokens where their value
  changes, implicit negatives from the impressions; one list of tokens per session.
* **popular**: weighted interaction counts per item in the cluster, ranked on the driver.

pyspark is imported only by this module (lazily) and the two step modules it runs
(trainer/prepare/spark_steps.py, spark_corpus.py): it is the ``spark`` extra (``pip install
'interaction-candidates[spark]'``), not a dependency of the trainer or the service.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pyarrow as pa

from trainer.config import TrainConfig
from trainer.events import BadRowsError, EventLog, LoadReport, load_events
from trainer.prepare import format as fmt
from trainer.prepare.sources import expand, merge_reports

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger("trainer.prepare")
T = TypeVar("T")
WORK = "_work"  # scratch tables inside the output folder, removed at the end
_BATCH = 1 << 18  # rows per Arrow batch a loading task sends


def spark_session(master: str | None) -> tuple[SparkSession, bool]:
    """The active SparkSession (spark-submit's, a test's), else a new one; and whether it is
    new (then ``prepare`` stops it). ImportError naming the ``spark`` extra without pyspark."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ImportError(
            "--engine spark needs pyspark: pip install 'interaction-candidates[spark]' "
            "(and Java 17 on the machine), or use --engine local"
        ) from exc
    logging.getLogger("py4j").setLevel(logging.WARNING)  # a line per gateway call otherwise
    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    builder = SparkSession.builder.appName("interaction-candidates prepare")
    builder = builder.config("spark.ui.showConsoleProgress", "false")  # steps are logged
    if master is not None:
        builder = builder.master(master)
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit configured everything
    if not submitted and (master is None or master.startswith("local")):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers: this interpreter
        builder = builder.config("spark.sql.shuffle.partitions", "8")
    return builder.getOrCreate(), True


def prepare_spark(
    pattern: str, out: Path, config: TrainConfig, master: str | None
) -> dict[str, Any]:
    """Prepare the files of ``pattern`` into ``out`` with Spark; return the manifest's fields."""
    files = expand(pattern)
    spark, created = spark_session(master)
    try:
        return _Job(spark, pattern, files, Path(out).resolve(), config).run()
    finally:
        shutil.rmtree(Path(out) / WORK, ignore_errors=True)
        if created:
            spark.stop()


def _loader(data_json: str, folder: str) -> Any:
    """The load step's task: read one file with the trainer's loader, write its kept rows as
    Parquet into ``folder`` (a path every executor and the driver see), return its facts.

    Executors write with pyarrow rather than handing rows to Spark, so no row becomes a Python
    object on its way (and no pandas is needed, which Spark's Arrow UDFs would ask for).
    """

    def load(task: tuple[int, str]) -> str:
        import pyarrow.parquet as pq

        from trainer.config import DataConfig

        file, path = task
        data = DataConfig.model_validate_json(data_json).model_copy(update={"on_bad_rows": "skip"})
        event_log = load_events(path, data, progress=False)
        with pq.ParquetWriter(f"{folder}/part-{file:06d}.parquet", _arrow_schema()) as writer:
            for batch in _event_batches(file, event_log):
                writer.write_batch(batch)
        return json.dumps(
            {
                "report": fmt.report_json(event_log.report),
                "columns": [
                    c for c in ("session", "shop", "query") if getattr(event_log, c) is not None
                ],
                "impressions": event_log.impressions is not None,
            }
        )

    return load


def _event_batches(file: int, log: EventLog) -> Iterator[pa.RecordBatch]:
    """The file's kept rows, numbered in the file, with their ids as strings."""
    schema = _arrow_schema()

    def ids(values: np.ndarray, codes: np.ndarray | None, a: int, b: int) -> pa.Array:
        if codes is None:
            return pa.nulls(b - a, pa.string())
        part = codes[a:b]
        return pa.array(values, pa.string()).take(pa.array(part, mask=part < 0))

    shown = log.impressions
    for a in range(0, len(log), _BATCH):
        b = min(a + _BATCH, len(log))
        impressions: pa.Array = pa.nulls(b - a, pa.list_(pa.string()))
        if shown is not None:
            lo, hi = np.searchsorted(shown.row, [a, b])
            counts = np.bincount(shown.row[lo:hi] - a, minlength=b - a)
            offsets = np.r_[0, np.cumsum(counts)].astype(np.int32)
            items = pa.array(shown.ids, pa.string()).take(pa.array(shown.item[lo:hi]))
            impressions = pa.ListArray.from_arrays(pa.array(offsets), items)
        session = None if log.session is None else log.session[a:b]
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(np.full(b - a, file, np.int32)),
                pa.array(np.arange(a, b, dtype=np.int64)),
                ids(log.user_ids, log.user, a, b),
                ids(log.item_ids, log.item, a, b),
                pa.array(log.interaction[a:b], pa.int8()),
                pa.array(log.timestamp[a:b], pa.int64()),
                ids(log.category_ids, log.category, a, b),
                pa.nulls(b - a, pa.int32())
                if session is None
                else pa.array(session, pa.int32(), mask=session < 0),
                ids(log.shop_ids, log.shop, a, b),
                ids(log.query_ids, log.query, a, b),
                impressions,
            ],
            schema=schema,
        )


def _arrow_schema() -> pa.Schema:
    return pa.schema(
        [
            ("file", pa.int32()), ("row", pa.int64()), ("user_id", pa.string()),
            ("item_id", pa.string()), ("interaction", pa.int8()), ("timestamp", pa.int64()),
            ("category_id", pa.string()), ("session", pa.int32()), ("shop_id", pa.string()),
            ("query", pa.string()), ("impressions", pa.list_(pa.string())),
        ]
    )  # fmt: skip


_SCHEMA = (
    "file int, row long, user_id string, item_id string, interaction byte, timestamp long, "
    "category_id string, session int, shop_id string, query string, impressions array<string>"
)


def dense_index(df: DataFrame, order: list[str], name: str) -> DataFrame:
    """``df`` with ``name`` = 0, 1, 2, … in ``order`` (unique keys), computed in parallel: a
    sort, then each partition's offset from the partitions' sizes (no single-partition
    window)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    ranked = (
        df.orderBy(*order)
        .withColumn("_pid", F.spark_partition_id())
        .withColumn("_mid", F.monotonically_increasing_id())
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    sizes = {r["_pid"]: r["n"] for r in ranked.groupBy("_pid").count().withColumnRenamed(
        "count", "n").collect()}  # fmt: skip
    shift, offsets = 0, []
    for pid in sorted(sizes):
        offsets += [F.lit(pid), F.lit(shift - (pid << 33))]
        shift += sizes[pid]
    if not offsets:
        return ranked.withColumn(name, F.lit(0).cast("long")).drop("_pid", "_mid")
    start = F.create_map(*offsets)[F.col("_pid")]
    return ranked.withColumn(name, F.col("_mid") + start).drop("_pid", "_mid")


class _Job:
    """One ``prepare`` run: each method a step, reading what the previous one wrote."""

    def __init__(
        self, spark: SparkSession, pattern: str, files: list[Path], out: Path, config: TrainConfig
    ) -> None:
        self.spark, self.pattern, self.files, self.out, self.config = (
            spark, pattern, files, out, config,
        )  # fmt: skip
        self.work = out / WORK

    def path(self, name: str) -> str:
        return str(self.out / name)

    def write(self, df: DataFrame, name: str, order: list[str] | None = None) -> DataFrame:
        """Write ``df`` (sorted by ``order``: a table of the format, its parts in order) as
        table ``name``; read it back, so later steps start from the files, not the plan."""
        (df.orderBy(*order) if order else df).write.mode("overwrite").parquet(self.path(name))
        return self.spark.read.schema(df.schema).parquet(self.path(name))  # no inference job

    def step(self, name: str, run: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        context = self.spark.sparkContext
        context.setJobGroup(f"prepare {name}", f"prepare: {name}")
        result = run(*args)
        jobs = len(context.statusTracker().getJobIdsForGroup(f"prepare {name}"))
        log.info("spark %s: %.1fs, %d jobs", name, time.perf_counter() - started, jobs)
        return result

    def run(self) -> dict[str, Any]:
        from pyspark.sql import functions as F

        from trainer.prepare import spark_corpus, spark_steps

        loaded, report, columns, shown = self.step("load", self.load)
        events = self.step("codes", spark_steps.encode, self, loaded, columns)
        item_category = self.write(spark_steps.item_categories(events), f"{WORK}/cat")
        marked, dropped = self.step("sessions", spark_steps.sessionize, self, events, item_category)
        vocab, log_item = self.step("vocab", spark_steps.build_vocab, self, marked, item_category)
        self.step("corpus", spark_corpus.encode, self, marked, vocab, log_item, shown)
        popular = self.step("popular", spark_steps.popular, self, events, item_category)
        popular.write(self.out / fmt.POPULAR)
        span = events.agg(F.min("timestamp"), F.max("timestamp"), F.count("*")).first()
        sessions = self.spark.read.parquet(self.path(fmt.SESSIONS))
        n_sessions, n_pairs = sessions.agg(F.count("*"), F.sum(F.size("item"))).first()  # type: ignore[misc]
        first, last, events_kept = span  # type: ignore[misc]
        counted = {
            "events": int(events_kept),
            "users": self.dictionary_size("user"),
            "time_range": None if first is None else [int(first), int(last)],
            "impressions": fmt.row_count(self.out, fmt.IMPRESSIONS) if shown else 0,
            "categories": self.dictionary_size("category"),
            "sessions": int(n_sessions),
            "sessions_dropped_short": dropped,
            "session_pairs": int(n_pairs or 0),
        }
        return {
            "source": {"events": self.pattern, "files": [str(f) for f in self.files]},
            "report": fmt.report_json(report),
            "statistics": fmt.statistics_of(report, counted, vocab),
            "impressions": shown,
            "columns": columns,
        }

    def load(self) -> tuple[DataFrame, LoadReport, list[str], bool]:
        """Every file through the trainer's loader, one task each; the kept rows with their
        global row number, the merged report, the optional columns seen, impressions or not."""
        from pyspark.sql import functions as F

        folder = self.work / "loaded"
        folder.mkdir(parents=True, exist_ok=True)
        paths = [(i, str(f.resolve())) for i, f in enumerate(self.files)]
        load = _loader(self.config.data.model_dump_json(), str(folder))
        facts = self.spark.sparkContext.parallelize(paths, len(paths)).map(load).collect()
        per_file = [json.loads(f) for f in facts]
        loaded = self.spark.read.schema(_SCHEMA).parquet(str(folder))
        reports = [fmt.report_from_json(f["report"]) for f in per_file]
        source = self.pattern if len(self.files) > 1 else str(self.files[0])
        report = merge_reports(source, reports)
        if self.config.data.on_bad_rows == "fail" and report.bad.counts:
            raise BadRowsError(report)
        starts = np.r_[0, np.cumsum([r.rows_kept for r in reports])[:-1]].tolist()
        offset = F.create_map(*[F.lit(x) for i, start in enumerate(starts) for x in (i, start)])
        rows = loaded.withColumn("row", F.col("row") + offset[F.col("file")])
        columns = [
            c for c in ("session", "shop", "query") if any(c in f["columns"] for f in per_file)
        ]
        shown = any(f["impressions"] for f in per_file)
        if shown:
            impressions = rows.where(F.col("impressions").isNotNull()).select(
                "row", F.posexplode("impressions").alias("pos", "item")
            )
            self.write(impressions, fmt.IMPRESSIONS, ["row", "pos"])
        return rows.drop("impressions"), report, columns, shown

    def dictionary_size(self, kind: str) -> int:
        return fmt.row_count(self.out, fmt.dictionary_dir(kind))

    def item_category_array(self, item_category: DataFrame, n_items: int) -> np.ndarray:
        """Each log item's category code (-1: none), from the item_categories table."""
        table = item_category.toArrow()
        category = np.full(n_items, -1, np.int32)
        category[table.column("item").to_numpy().astype(np.int64)] = table.column(
            "item_category"
        ).to_numpy()
        return category
