"""``python -m trainer evaluate`` end to end on a tiny synthetic log: files, schema, published."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from contracts import artifacts
from trainer.cli import main
from trainer.config import TrainConfig
from trainer.evaluation.reference import gensim_available
from trainer.evaluation.run import ABLATIONS, NEEDS
from trainer.pipeline import train
from trainer.synth import SynthConfig, generate, write_events

TINY = ["--dim", "16", "--epochs", "1", "--threads", "2", "--no-progress"]
MODELS = {
    "view-interaction", "cart-interaction", "no-interaction", "co-purchase", "popular",
    "popular-in-category", "view-interaction + cold items", "no-interaction + cold items",
    "view-interaction + cold items by category token",  # category tokens are on by default
}  # fmt: skip
TARGETS = {"view", "cart", "purchase"}
KS = {"10", "25", "50", "100", "200"}


@pytest.fixture(scope="module")
def events(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("events") / "events.csv"
    write_events(generate(SynthConfig(users=300, items=400, categories=10, days=3)), path)
    return path


@pytest.fixture(scope="module")
def report(events, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    args = ["evaluate", "--events", str(events), "--report", str(out), "--sweep-dims", "8,16"]
    result = CliRunner().invoke(main, args + TINY)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(out / "metrics.json")
    return out


def check_model(entry: dict) -> None:
    assert set(entry["hit_rate"]) == TARGETS and set(entry["hit_rate_seen"]) == TARGETS
    for by_k in entry["hit_rate"].values():
        assert set(by_k) == KS
        values = [by_k[k] for k in sorted(by_k, key=int)]
        assert all(0.0 <= v <= 1.0 for v in values) and values == sorted(values)
    assert set(entry["coverage"]) == {"items", "traffic"}
    assert all(0.0 <= v <= 1.0 for v in entry["coverage"].values())
    assert set(entry["pairs"]) == TARGETS and all(
        isinstance(n, int) for n in entry["pairs"].values()
    )


def test_evaluate_writes_the_report_the_metrics_and_the_plots(report):
    names = {p.name for p in report.iterdir()}
    assert {"report.md", "metrics.json", "hit_rate_vs_k.png", "coverage.png"} <= names
    assert "embeddings_2d.png" in names
    text = (report / "report.md").read_text()
    for heading in ("Table 1", "Table 2", "Table 3", "Ablations", "Because you X", "Timings"):
        assert heading in text


def test_metrics_json_has_the_agreed_shape(report):
    metrics = json.loads((report / "metrics.json").read_text())
    assert {"cutoff", "test_end", "train_events", "test_sessions"} <= set(metrics["split"])
    expected = MODELS | ({"gensim-item2vec"} if gensim_available() else set())
    assert set(metrics["models"]) == expected
    for entry in metrics["models"].values():
        check_model(entry)
    assert metrics["models"]["popular"]["coverage"]["items"] == 1.0


def test_metrics_json_holds_the_matrix_the_sweep_and_the_ablations(report):
    metrics = json.loads((report / "metrics.json").read_text())
    assert set(metrics["interaction_matrix"]["view"]) == {
        "view",
        "favorite",
        "cart",
        "purchase",
        "any",
    }
    assert set(metrics["best_target"]) <= {"view", "favorite", "cart", "purchase"}
    assert set(metrics["dims"]) == {"8", "16"}
    # the synthetic log has no impressions, queries or shops: those variants are skipped, noted
    assert set(metrics["ablations"]) == set(ABLATIONS) - set(NEEDS)
    assert {"hierarchy off", "paper's model", "paper + category tokens"} <= set(ABLATIONS)
    assert sum("skipped" in note for note in metrics["notes"]) == len(NEEDS)
    for variant in metrics["ablations"].values():
        for entry in variant.values():
            check_model(entry)


def test_a_published_version_is_evaluated_on_a_later_window(events, tmp_path):
    end = datetime(2017, 11, 27, tzinfo=UTC)  # the synthetic log covers Nov 25-27
    config = TrainConfig().with_overrides(
        {"data": {"until": end}, "sgns": {"dim": 16, "epochs": 1, "threads": 2}}
    )
    version = train(events, tmp_path / "artifacts", config, progress=False)
    manifest = artifacts.load_manifest(artifacts.version_dir(tmp_path / "artifacts", version))
    trained_until = manifest.data["time_range"][1]
    out = tmp_path / "report"
    args = ["evaluate", "--events", str(events), "--artifacts", str(tmp_path / "artifacts")]
    result = CliRunner().invoke(main, [*args, "--report", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    cutoff = datetime.fromisoformat(metrics["split"]["cutoff"]).timestamp()
    assert cutoff > trained_until  # the version's own training data is not its test
    assert set(metrics["models"]) == MODELS - {"co-purchase"}
    for entry in metrics["models"].values():
        check_model(entry)


def test_an_impossible_split_is_a_readable_error(events, tmp_path):
    args = ["evaluate", "--events", str(events), "--report", str(tmp_path), "--test-days", "9"]
    result = CliRunner().invoke(main, args + TINY)
    assert result.exit_code != 0 and "smaller --test-days" in result.output
