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
from trainer.evaluation.variants import ABLATIONS, NEEDS
from trainer.pipeline import train
from trainer.synth import SynthConfig, generate, write_events

TINY = ["--dim", "16", "--epochs", "1", "--threads", "2", "--no-progress"]
MODELS = {
    "view-interaction", "cart-interaction", "no-interaction", "co-purchase", "popular",
    "popular-in-category", "view-interaction + cold items", "no-interaction + cold items",
    "view-interaction + cold items by category token",  # category tokens are on by default
    "served",  # what the service answers for one seed: neighbours, blend rule, backfill
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


def check_model(entry: dict, nested: bool = True) -> None:
    """``nested``: the list at K is the prefix of the list at a larger K, so the rate grows
    with K (not for ``served``, whose blend threshold depends on K)."""
    assert set(entry["hit_rate"]) == TARGETS and set(entry["hit_rate_seen"]) == TARGETS
    for by_k in entry["hit_rate"].values():
        assert set(by_k) == KS
        values = [by_k[k] for k in sorted(by_k, key=int)]
        assert all(0.0 <= v <= 1.0 for v in values)
        assert values == sorted(values) or not nested
    assert set(entry["coverage"]) == {"items", "traffic"}
    assert all(0.0 <= v <= 1.0 for v in entry["coverage"].values())
    assert set(entry["pairs"]) == TARGETS and all(
        isinstance(n, int) for n in entry["pairs"].values()
    )
    for rates, intervals in (("hit_rate", "hit_rate_ci"), ("hit_rate_seen", "hit_rate_seen_ci")):
        assert set(entry[intervals]) == TARGETS
        for target, by_k in entry[intervals].items():
            assert set(by_k) == KS
            for k, (lo, hi) in by_k.items():
                assert 0.0 <= lo <= entry[rates][target][k] <= hi <= 1.0


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
    for name, entry in metrics["models"].items():
        check_model(entry, nested=name != "served")
    assert metrics["models"]["popular"]["coverage"]["items"] == 1.0


def test_evaluate_chooses_on_the_training_window_as_train_does(report):
    metrics = json.loads((report / "metrics.json").read_text())
    chosen = metrics["chosen"]
    assert chosen["validation"]["test_end"] <= metrics["split"]["cutoff"]  # ISO strings sort
    assert "epochs" not in chosen and metrics["config"]["sgns"]["epochs"] == 1  # given: kept
    assert metrics["blend"]["thresholds"]["item-interaction"]
    assert metrics["blend"]["chosen_on"]["pairs"]["item-interaction"] > 0
    text = (report / "report.md").read_text()
    assert "## Chosen on the training window's validation split" in text
    assert "| item-interaction (" in text  # the thresholds table


def test_the_report_shows_an_interval_next_to_every_headline_hit_rate(report):
    metrics = json.loads((report / "metrics.json").read_text())
    popular = metrics["models"]["popular-in-category"]
    rate, (lo, hi) = popular["hit_rate"]["view"]["200"], popular["hit_rate_ci"]["view"]["200"]
    digits = 2 if hi < 0.01 else 1
    cell = f"{100 * rate:.2f} [{100 * lo:.{digits}f}–{100 * hi:.{digits}f}]"
    row = next(
        line
        for line in (report / "report.md").read_text().splitlines()
        if line.startswith("| popular-in-category |")
    )  # the first such row: view target, all pairs
    assert cell in row and row.count(" [") == len(KS)


@pytest.mark.skipif(not gensim_available(), reason="gensim (the bench extra) is not installed")
def test_the_gensim_check_is_decided_on_a_paired_interval_of_the_difference(report):
    check = json.loads((report / "metrics.json").read_text())["gensim_check"]
    lo, hi = check["difference_ci"]
    assert check["difference"] == pytest.approx(check["ours"] - check["gensim"], abs=1e-6)
    assert lo <= check["difference"] <= hi and check["passes"] == (hi >= 0)
    assert (check["target"], check["k"], check["level"]) == ("purchase", 200, 0.95)
    assert "within_tolerance" not in check
    text = (report / "report.md").read_text()
    assert f"paired bootstrap interval [{100 * lo:+.2f}, {100 * hi:+.2f}]" in text


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
    trained_until = manifest.data.time_range[1]
    out = tmp_path / "report"
    args = ["evaluate", "--events", str(events), "--artifacts", str(tmp_path / "artifacts")]
    result = CliRunner().invoke(main, [*args, "--report", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    cutoff = datetime.fromisoformat(metrics["split"]["cutoff"]).timestamp()
    assert cutoff > trained_until  # the version's own training data is not its test
    assert set(metrics["models"]) == MODELS - {"co-purchase", "served"}
    for entry in metrics["models"].values():
        check_model(entry)


def test_an_impossible_split_is_a_readable_error(events, tmp_path):
    args = ["evaluate", "--events", str(events), "--report", str(tmp_path), "--test-days", "9"]
    result = CliRunner().invoke(main, args + TINY)
    assert result.exit_code != 0 and "smaller --test-days" in result.output


def test_the_rows_the_loader_skipped_reach_metrics_json_and_the_report(events, tmp_path):
    lines = events.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    bad = {
        2: "u1,i1,view,yesterday,c001",  # line numbers of the file written below
        5: "u1,i1,view",
        7: "u1,i1,zap,1511613492,c001",
        10: "u2,i2,cart,soon,c001",
    }
    out_lines = [header]
    for line in range(2, len(rows) + len(bad) + 2):
        out_lines.append(bad[line] if line in bad else rows.pop(0))
    path = tmp_path / "with-bad-rows.csv"
    path.write_text("\n".join(out_lines) + "\n")
    out = tmp_path / "report"
    args = ["evaluate", "--events", str(path), "--report", str(out), "--no-ablations"]
    result = CliRunner().invoke(main, [*args, "--no-gensim", *TINY])
    assert result.exit_code == 0, result.output
    load = json.loads((out / "metrics.json").read_text())["load"]
    assert load["bad_rows"] == {
        "unparsable timestamp": {"count": 2, "first_lines": [2, 10]},
        "unknown interaction 'zap'": {"count": 1, "first_lines": [7]},
        "wrong number of fields (expected 5)": {"count": 1, "first_lines": [5]},
    }
    assert (load["rows_read"], load["rows_kept"]) == (len(out_lines) - 1, len(out_lines) - 5)
    assert load["bad_rows_total"] == 4 and load["numbering"] == "line"
    text = (out / "report.md").read_text()
    assert "## Rows the loader skipped" in text
    assert "| unparsable timestamp | 2 | 2, 10 |" in text
    assert "| unknown interaction 'zap' | 1 | 7 |" in text
    assert "| wrong number of fields (expected 5) | 1 | 5 |" in text
