"""trainer/neighbors.py: a table filled in row ranges, here or in other processes, is the same
table, and each row is the target index's answer for the seed's vector; trainer/index.py's
recall check finds the exact top k without a copy of the indexed vectors."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from contracts import artifacts
from contracts.artifacts import load_manifest
from contracts.search import ExactSearch, HnswSearch
from trainer import index as index_module
from trainer.config import TrainConfig
from trainer.index import exact_labels
from trainer.neighbors import build_tables_for, ranges
from trainer.pipeline import train
from trainer.synth import SynthConfig, generate, write_events

SMALL = {"sgns": {"dim": 16, "epochs": 2, "threads": 1}, "index": {"recall_sample": 50}}


@pytest.fixture(scope="module")
def version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tables")
    events = folder / "events.csv"
    write_events(generate(SynthConfig(users=300, items=600, categories=12)), events)
    root = folder / "artifacts"
    version = train(events, root, TrainConfig().with_overrides(SMALL), progress=False)
    return root / artifacts.VERSIONS / version


def rebuilt(version: Path, into: Path, index: dict[str, int]) -> Path:
    """The version's tables built again in a copy of it, with ``index`` settings."""
    folder = shutil.copytree(version, into)
    shutil.rmtree(folder / "neighbors")
    manifest = load_manifest(version)
    tokens = np.load(folder / artifacts.TOKENS)
    vocab = SimpleNamespace(
        token_interaction=tokens[:, 1], n_items=len(np.load(folder / artifacts.ITEMS_IN))
    )
    config = TrainConfig().with_overrides({**SMALL, "index": {**SMALL["index"], **index}})
    n_cold = len(np.load(folder / artifacts.COLD_VECTORS))
    infos = build_tables_for(
        folder,
        manifest.indexes,
        vocab,
        config,
        1,
        False,
        True,
        n_cold,  # type: ignore[arg-type]
    )
    assert [i.model_dump() for i in infos] == [t.model_dump() for t in manifest.neighbor_tables]
    return folder


def test_ranges_cover_every_row_once():
    assert ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert ranges(8, 4) == [(0, 4), (4, 8)]
    assert ranges(0, 4) == []


def test_a_table_filled_in_ranges_in_other_processes_is_the_same_table(version, tmp_path):
    manifest = load_manifest(version)
    assert {(t.seed, t.target) for t in manifest.neighbor_tables} >= {("view", "view")}
    split = rebuilt(version, tmp_path / "split", {"table_processes": 2, "table_range_rows": 37})
    for table in manifest.neighbor_tables:
        for name in (table.tokens, table.items, table.scores):
            assert np.array_equal(np.load(version / name), np.load(split / name)), name


def test_each_row_is_the_index_answer_for_its_seed_vector(version):
    manifest = load_manifest(version)
    table = next(t for t in manifest.neighbor_tables if (t.seed, t.target) == ("view", "view"))
    info = next(i for i in manifest.indexes if i.name == "view")
    index = HnswSearch.load(
        version / info.file, info.space, info.dim, info.ef_search, info.count, 1
    )
    tokens = np.load(version / table.tokens)
    items = np.load(version / table.items)
    token_item = np.load(version / artifacts.TOKENS)[:, 0]
    queries = np.load(version / artifacts.PAIRS_IN)
    rows = np.arange(0, len(tokens), max(1, len(tokens) // 50))
    labels, _ = index.query(queries[tokens[rows]], table.k)
    assert np.array_equal(items[rows, : labels.shape[1]], token_item[labels])
    assert items.dtype == np.int32 and items.shape == (len(tokens), table.k)


@pytest.mark.parametrize("space", ["cosine", "ip"])
def test_the_recall_check_scans_in_chunks_and_finds_the_exact_top_k(space, monkeypatch):
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(500, 8)).astype(np.float32)
    rows = np.sort(rng.choice(500, 300, replace=False))
    queries = rng.normal(size=(20, 8)).astype(np.float32)
    monkeypatch.setattr(index_module, "RECALL_CHUNK", 64)  # many chunks, one partial
    found = exact_labels(vectors, rows, queries, 7, space)
    truth, _ = ExactSearch(vectors[rows], rows, space).query(queries, 7)
    assert [set(a) for a in found.tolist()] == [set(t) for t in truth.tolist()]
