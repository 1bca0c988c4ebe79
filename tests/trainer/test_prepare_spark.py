"""The Spark engine of ``prepare`` against the local one, in Spark local mode (issue 15).

On the same input — the synthetic world in two files, and each public-dataset adapter's own
layout — both engines write the same validated events, sessions, vocabulary, token streams
(implicit negatives and entity tokens included), popular items, statistics and bad-row report;
a folder from either trains into the same version, which the service loads.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from prepare_inputs import ADAPTER_LOGS, ENTITIES, synthetic
from pyspark.sql import SparkSession

from contracts import artifacts
from service.model import load_model
from trainer.config import TrainConfig
from trainer.prepare import format as fmt
from trainer.prepare import prepare

pytestmark = pytest.mark.skipif(
    shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
    reason="Spark needs Java 17 (no java on PATH, no JAVA_HOME): the Spark engine is untested",
)

SMALL = {"sgns": {"dim": 16, "epochs": 2, "threads": 1}, "index": {"recall_sample": 50}}
SYNTHETIC = TrainConfig().with_overrides(ENTITIES)


INPUTS = ("synthetic", *sorted(ADAPTER_LOGS))


def spark_session() -> SparkSession:
    """A small local Spark: two cores, few partitions, no UI."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("test_prepare_spark")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.autoBroadcastJoinThreshold", "-1")  # fewer jobs: tiny tables
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def prepare_every_input(folder: Path) -> None:
    """Each input prepared by both engines into ``folder/<input>/{local,spark}``, in one JVM."""
    spark = spark_session()
    try:
        for name in INPUTS:
            if name == "synthetic":
                events, config = synthetic(folder / name / "log"), SYNTHETIC
            else:
                (folder / name).mkdir(parents=True, exist_ok=True)
                events = ADAPTER_LOGS[name](folder / name)
                config = TrainConfig().with_overrides({"data": {"adapter": name}})
            prepare(events, folder / name / "local", config, "local", progress=False)
            prepare(events, folder / name / "spark", config, "spark")
    finally:
        spark.stop()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """(local, spark) folders per input, made once per test run: the xdist workers share them
    (the first one to ask prepares, under a lock), so one JVM does all the Spark work."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # this run's folder, common to its workers
    folder = root / "prepare-parity"
    folder.mkdir(exist_ok=True)
    with (folder / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "done").exists():
            prepare_every_input(folder)
            (folder / "done").touch()
    return {name: (folder / name / "local", folder / name / "spark") for name in INPUTS}


def assert_same_arrays(a: object, b: object, fields: tuple[str, ...], what: str) -> None:
    for name in fields:
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), f"{what}.{name}"
        if x is not None:
            assert np.array_equal(x, y), f"{what}.{name} differs"


def assert_same_preparation(local: Path, distributed: Path) -> None:
    """Every table of the two folders, read back, is equal; so are the manifests' facts."""
    assert_same_arrays(
        fmt.read_events(local), fmt.read_events(distributed),
        ("user", "item", "interaction", "timestamp", "category", "session", "shop", "query",
         "user_ids", "item_ids", "category_ids", "shop_ids", "query_ids"), "events",
    )  # fmt: skip
    assert_same_arrays(
        fmt.read_sessions(local), fmt.read_sessions(distributed),
        ("item", "interaction", "offsets", "user", "start", "row", "dropped_short"), "sessions",
    )  # fmt: skip
    vocab, other = fmt.read_vocab(local), fmt.read_vocab(distributed)
    assert_same_arrays(
        vocab, other,
        ("item_ids", "item_category", "item_count", "category_ids", "token_item",
         "token_interaction", "token_count", "item_token"), "vocab",
    )  # fmt: skip
    assert_same_arrays(vocab.entities, other.entities, ("kind", "code", "ids", "count"), "ent")
    for name, size in ((fmt.PAIRS, vocab.size), (fmt.ITEMS, vocab.n_items)):
        mine = fmt.read_corpus(local, name, size, implicit=True)
        theirs = fmt.read_corpus(distributed, name, size, implicit=True)
        assert_same_arrays(mine, theirs, ("tokens", "offsets", "counts"), name)
        assert (mine.implicit is None) == (theirs.implicit is None)
        if mine.implicit is not None and theirs.implicit is not None:
            assert all(
                np.array_equal(x, y) for x, y in zip(mine.implicit, theirs.implicit, strict=True)
            )
    assert fmt.read_popular(local) == fmt.read_popular(distributed)
    facts = ("report", "statistics", "config", "source", "impressions", "columns")
    mine_raw, theirs_raw = fmt.read_manifest(local).raw, fmt.read_manifest(distributed).raw
    assert {k: mine_raw[k] for k in facts} == {k: theirs_raw[k] for k in facts}


def test_both_engines_prepare_the_same_synthetic_log(
    prepared: dict[str, tuple[Path, Path]],
) -> None:
    local, distributed = prepared["synthetic"]
    assert_same_preparation(local, distributed)
    manifest = fmt.read_manifest(local)
    assert len(manifest.raw["source"]["files"]) == 2
    stats = manifest.statistics
    assert stats["impressions"] > 0
    assert set(stats["entities_per_kind"]) == {"query", "category", "shop"}
    corpus = fmt.read_corpus(local, fmt.PAIRS, fmt.read_vocab(local).size, implicit=True)
    assert corpus.implicit is not None and len(corpus.implicit[1]) > 0


@pytest.mark.parametrize("adapter", sorted(ADAPTER_LOGS))
def test_both_engines_prepare_the_same_adapter_fixture(
    prepared: dict[str, tuple[Path, Path]], adapter: str
) -> None:
    local, distributed = prepared[adapter]
    assert_same_preparation(local, distributed)
    manifest = fmt.read_manifest(local)
    bad = manifest.raw["report"]["bad"]
    assert bad["counts"] and bad["examples"], "the fixture has bad rows"
    assert manifest.statistics["sessions"] > 10


def test_prepared_folders_of_both_engines_train_the_same_served_version(
    prepared: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    from trainer.pipeline import train_prepared

    config = SYNTHETIC.with_overrides(SMALL)
    manifests = []
    for folder in prepared["synthetic"]:
        root = tmp_path / folder.name
        version = train_prepared(folder, root, config, progress=False)
        assert load_model(root, version).version == version  # the service loads it
        path = root / artifacts.VERSIONS / version / artifacts.MANIFEST
        manifests.append(json.loads(path.read_text()))
    mine, theirs = manifests
    assert mine["data"] == theirs["data"]
    for name in (artifacts.ITEMS, artifacts.TOKENS, artifacts.ENTITIES, *artifacts.POPULAR_FILES):
        assert mine["files"][name] == theirs["files"][name], name
