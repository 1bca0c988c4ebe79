"""``prepare --engine local`` and ``train --prepared``: the same version as ``train --events``,
logs in many files, and the settings a prepared folder cannot honour."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow.csv as pa_csv
import pytest
from click.testing import CliRunner

from contracts import artifacts
from trainer.cli import main
from trainer.config import TrainConfig
from trainer.pipeline import train, train_prepared
from trainer.prepare import PrepareError, prepare
from trainer.prepare import format as fmt
from trainer.synth import SynthConfig, generate, write_events

SMALL = {"sgns": {"dim": 16, "epochs": 2, "threads": 1}, "index": {"recall_sample": 50}}
WORLD = SynthConfig(users=150, items=300, categories=8, listing_size=3, seed=5)


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("log") / "events.csv"
    write_events(generate(WORLD), path)
    return path


def manifest_of(root: Path, version: str) -> dict[str, object]:
    return json.loads((root / artifacts.VERSIONS / version / artifacts.MANIFEST).read_text())


def test_train_from_a_prepared_folder_publishes_the_version_train_from_the_log_does(
    events: Path, tmp_path: Path
) -> None:
    config = TrainConfig().with_overrides(SMALL)
    prepare(str(events), tmp_path / "prepared", config, "local", progress=False)
    from_log = manifest_of(tmp_path / "a", train(events, tmp_path / "a", config, progress=False))
    version = train_prepared(tmp_path / "prepared", tmp_path / "b", config, progress=False)
    from_prepared = manifest_of(tmp_path / "b", version)
    assert from_prepared["data"] == from_log["data"]
    assert from_prepared["config"] == from_log["config"]
    assert from_prepared["files"] == from_log["files"]  # every file, embeddings included


def test_a_glob_of_files_is_prepared_as_the_one_file_they_were_cut_from(
    events: Path, tmp_path: Path
) -> None:
    table = pa_csv.read_csv(events)
    half = table.num_rows // 2
    (tmp_path / "parts").mkdir()
    pa_csv.write_csv(table.slice(0, half), tmp_path / "parts" / "a.csv")
    pa_csv.write_csv(table.slice(half), tmp_path / "parts" / "b.csv")
    config = TrainConfig()
    whole = prepare(str(events), tmp_path / "whole", config, "local", progress=False)
    parts = prepare(str(tmp_path / "parts" / "*.csv"), tmp_path / "cut", config, "local", False)
    assert parts.raw["source"]["files"] == [str(tmp_path / "parts" / n) for n in ("a.csv", "b.csv")]
    one, two = fmt.read_sessions(tmp_path / "whole"), fmt.read_sessions(tmp_path / "cut")
    assert np.array_equal(one.item, two.item) and np.array_equal(one.offsets, two.offsets)
    corpus = [
        fmt.read_corpus(p, fmt.PAIRS, 10**6, True) for p in (tmp_path / "whole", tmp_path / "cut")
    ]
    assert np.array_equal(corpus[0].tokens, corpus[1].tokens)
    assert np.array_equal(corpus[0].implicit[1], corpus[1].implicit[1])  # type: ignore[index]
    assert whole.statistics["events"] == parts.statistics["events"]


def test_bad_rows_of_many_files_are_counted_together_and_name_their_file(tmp_path: Path) -> None:
    header = "user_id,item_id,interaction,timestamp"
    rows = [f"u{u},i{i},view,{1000 + 60 * i}" for u in range(3) for i in range(6)]
    (tmp_path / "a.csv").write_text("\n".join([header, *rows, "u9,i9,view,soon"]) + "\n")
    (tmp_path / "b.csv").write_text("\n".join([header, *rows, "u9,i9,jump,1"]) + "\n")
    manifest = prepare(str(tmp_path / "*.csv"), tmp_path / "out", TrainConfig(), "local", False)
    bad = manifest.raw["report"]["bad"]
    assert bad["counts"] == {"unparsable timestamp": 1, "unknown interaction 'jump'": 1}
    assert [e[0] for e in bad["examples"]] == [20, 20]  # line numbers within each file
    assert str(tmp_path / "a.csv") in bad["examples"][0][2]
    assert str(tmp_path / "b.csv") in bad["examples"][1][2]


def test_train_refuses_a_setting_the_prepared_folder_was_not_made_with(
    events: Path, tmp_path: Path
) -> None:
    prepare(str(events), tmp_path / "prepared", TrainConfig(), "local", progress=False)
    config = TrainConfig().with_overrides({**SMALL, "sessions": {"gap_minutes": 10}})
    with pytest.raises(PrepareError, match=r"sessions\.gap_minutes = 10\.0"):
        train_prepared(tmp_path / "prepared", tmp_path / "a", config, progress=False)


def test_a_prepared_folder_of_format_1_with_popular_json_still_reads(
    events: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "prepared"
    prepare(str(events), folder, TrainConfig(), "local", progress=False)
    popular = fmt.read_popular(folder)
    assert (folder / fmt.POPULAR).is_dir() and popular.to_lists()[1]
    (folder / fmt.POPULAR_JSON).write_text(json.dumps(popular.to_json()))
    shutil.rmtree(folder / fmt.POPULAR)
    raw = json.loads((folder / fmt.MANIFEST).read_text())
    (folder / fmt.MANIFEST).write_text(json.dumps({**raw, "format_version": 1}))
    assert fmt.read_manifest(folder).raw["format_version"] == 1
    assert fmt.read_popular(folder) == popular


def test_prepare_never_writes_over_a_folder_it_did_not_make(events: Path, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(PrepareError, match="not a prepared folder"):
        prepare(str(events), tmp_path / "mine", TrainConfig(), "local", progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_the_cli_prepares_then_trains_and_prints_the_folder_then_the_version(
    events: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    out = tmp_path / "prepared"
    done = runner.invoke(main, ["prepare", "--events", str(events), "--out", str(out),
                                "--no-progress"])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert done.stdout.strip().splitlines()[-1] == str(out)
    args = ["train", "--prepared", str(out), "--artifacts", str(tmp_path / "a"), "--no-progress",
            "--dim", "16", "--epochs", "2", "--threads", "1"]  # fmt: skip
    trained = runner.invoke(main, args)
    assert trained.exit_code == 0, trained.output
    assert trained.stdout.strip().splitlines()[-1] == artifacts.read_current(tmp_path / "a")
    both = runner.invoke(main, [*args, "--events", str(events)])
    assert both.exit_code != 0 and "one of --events FILE or --prepared FOLDER" in both.output


def test_the_spark_engine_without_pyspark_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trainer.prepare.spark import spark_session

    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(ImportError, match=r"interaction-candidates\[spark\]"):
        spark_session(None)
