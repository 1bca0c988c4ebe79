"""The whole trainer on the synthetic world: published, verified, and it learned the world."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from contracts import artifacts
from contracts.catalog import read_catalog, read_categories
from contracts.interactions import Interaction
from contracts.popular import Popular
from contracts.search import HnswSearch
from trainer.config import TrainConfig
from trainer.evaluation.split import iso
from trainer.pipeline import train
from trainer.synth import SynthConfig, complement, generate, write_events

VIEW, CART = int(Interaction.VIEW), int(Interaction.CART)
PIPELINE_STAGES = ("load", "choose", "sessionize", "vocabulary", "encode", "sgns pairs",
                   "popular", "model files", "hnsw", "neighbour tables", "publish")  # fmt: skip


@pytest.fixture(scope="module")
def events(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("events") / "events.csv"
    write_events(generate(SynthConfig()), path)
    return path


@pytest.fixture(scope="module")
def published(events, tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("artifacts")
    config = TrainConfig().with_overrides({"sgns": {"threads": 2}})
    return root, train(events, root, config, progress=False)


def version_dir(root: Path, version: str) -> Path:
    return root / artifacts.VERSIONS / version


def test_train_publishes_a_version_that_verifies_and_is_current(published):
    root, version = published
    assert artifacts.read_current(root) == version
    manifest = artifacts.verify_version(version_dir(root, version))
    assert manifest.dim == 100 and manifest.similarity == "cosine"
    pairs_and_items = {"view", "favorite", "cart", "purchase", "item"}
    assert {i.name for i in manifest.indexes} == pairs_and_items | {"category"}  # entity tokens
    assert all(i.recall[f"recall@{10}"] > 0.9 for i in manifest.indexes)


def test_cold_vectors_are_the_learned_category_tokens(published):
    folder = version_dir(*published)
    catalog = read_catalog(
        folder / artifacts.ITEMS, folder / artifacts.TOKENS, folder / artifacts.ENTITIES
    )
    token = catalog.entity_token()
    categories = read_categories(folder / artifacts.COLD_CATEGORIES)
    assert len(categories) == len({c for c in catalog.item_category if c is not None})
    rows = [token["category", c] for c in categories]
    pairs_in = np.load(folder / artifacts.PAIRS_IN)
    np.testing.assert_array_equal(np.load(folder / artifacts.COLD_VECTORS), pairs_in[rows])


def test_the_manifest_counts_every_epoch_of_the_corpus(published):
    root, version = published
    manifest = artifacts.load_manifest(version_dir(root, version))
    pairs = manifest.training["pairs"]
    epochs = manifest.chosen["epochs"]["chosen"]  # sgns.epochs = "auto": chosen on validation
    assert pairs.epochs == epochs == manifest.config["sgns"]["epochs"] and pairs.threads == 2
    assert pairs.tokens % epochs == 0 and pairs.tokens > 0
    assert pairs.seconds > 0
    assert manifest.config["sgns"]["threads"] == 2
    assert manifest.data.pairs == sum(manifest.data.pairs_per_interaction.values())
    assert manifest.extra["negatives_used"]["hierarchy"] > 0


def test_the_manifest_records_the_blend_rule_and_why_epochs_were_chosen(published):
    root, version = published
    manifest = artifacts.load_manifest(version_dir(root, version))
    curve = manifest.chosen["epochs"]["curve"]
    best = max(curve, key=lambda step: step["objective"])
    assert best["epochs"] == manifest.chosen["epochs"]["chosen"]
    last = manifest.data.time_range[1]  # validation: the last day of the training events
    assert manifest.chosen["validation"]["test_end"] == iso(last + 1)
    assert manifest.blend is not None and manifest.blend.thresholds["item-interaction"]
    assert manifest.blend.chosen_on["pairs"]["item-interaction"] > 0


def test_popular_items_are_published_overall_and_per_category(published):
    root, version = published
    folder = version_dir(root, version)
    assert not (folder / artifacts.POPULAR_JSON).exists()  # schema 3: arrays only
    popular = Popular.open(folder / artifacts.POPULAR)
    scores = [score for _, score in popular.overall]
    assert scores == sorted(scores, reverse=True) and len(scores) == 500
    assert set(popular.categories) == {f"c{k:03d}" for k in range(50)}


def neighbour_shares(root: Path, version: str, seed: int, target: int) -> tuple[float, float]:
    """Share of same-category and complement-category items among the top-10 neighbours of
    every item's ``seed`` pair in the ``target`` index (the item itself left out)."""
    folder = version_dir(root, version)
    manifest = artifacts.load_manifest(folder)
    catalog = read_catalog(folder / artifacts.ITEMS, folder / artifacts.TOKENS)
    u = np.load(folder / artifacts.PAIRS_IN)
    item_token = catalog.item_token()
    info = manifest.index(Interaction(target).label)
    index = HnswSearch.load(folder / info.file, info.space, info.dim, info.ef_search, info.count)
    rows = np.flatnonzero((item_token[:, VIEW] >= 0) & (item_token[:, CART] >= 0))
    labels, _ = index.query(u[item_token[rows, seed]], 11)
    same = comp = total = 0
    for row, neighbours in zip(rows, labels, strict=True):
        category = catalog.item_category[row]
        for other in catalog.token_item[neighbours]:
            if other != row:
                total += 1
                same += catalog.item_category[other] == category
                comp += catalog.item_category[other] == complement(str(category))
    return same / total, comp / total


def test_view_neighbours_stay_in_the_category_and_cart_neighbours_reach_the_complement(published):
    root, version = published
    view_same, view_comp = neighbour_shares(root, version, VIEW, VIEW)
    cart_same, cart_comp = neighbour_shares(root, version, CART, CART)
    assert view_same > 0.5
    assert cart_comp > view_comp + 0.05
    assert cart_same < view_same


def test_a_second_train_publishes_another_version_and_keeps_the_first(events, tmp_path, caplog):
    config = TrainConfig().with_overrides({"sgns": {"threads": 1, "epochs": 1}})
    first = train(events, tmp_path, config, progress=False)
    with caplog.at_level(logging.INFO, "trainer.stages"):
        second = train(events, tmp_path, config, progress=False)
    stages = [r for r in caplog.records if r.name == "trainer.stages"]
    last = {r.stage: n for n, r in enumerate(stages)}
    # the run's own stages in order (the validation fits of "choose" log theirs before it
    # ends); bench/train_scale.py reads these records
    assert [last[name] for name in PIPELINE_STAGES] == sorted(last[n] for n in PIPELINE_STAGES)
    for r in stages:
        assert r.seconds >= 0 and r.peak_rss_mb >= r.rss_mb > 0
    assert first != second
    assert artifacts.list_versions(tmp_path) == [first, second]
    assert artifacts.read_current(tmp_path) == second
    artifacts.verify_version(version_dir(tmp_path, first))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args], capture_output=True, text=True, timeout=300
    )


def test_the_cli_prints_the_version_id_as_its_last_stdout_line(tmp_path):
    events = tmp_path / "e.csv"
    assert run_cli("synth", "--out", str(events), "--users", "300").returncode == 0
    done = run_cli(
        "train", "--events", str(events), "--artifacts", str(tmp_path / "a"),
        "--epochs", "1", "--threads", "1", "--dim", "16", "--no-progress",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    version = done.stdout.strip().splitlines()[-1]
    assert artifacts.read_current(tmp_path / "a") == version
    manifest = artifacts.verify_version(version_dir(tmp_path / "a", version))
    assert manifest.dim == 16


def test_the_cli_fails_on_bad_rows_naming_their_lines(tmp_path):
    events = tmp_path / "e.csv"
    rows = ["user_id,item_id,interaction,timestamp"]
    rows += [f"u,i{k},view,{k}" for k in range(10)]
    rows[4] = "u,i3,teleport,3"
    events.write_text("\n".join(rows) + "\n")
    done = run_cli("train", "--events", str(events), "--artifacts", str(tmp_path / "a"),
                   "--on-bad-rows", "fail", "--no-progress")  # fmt: skip
    assert done.returncode != 0
    assert "teleport" in done.stderr and "5" in done.stderr
    assert not (tmp_path / "a" / artifacts.CURRENT).exists()
