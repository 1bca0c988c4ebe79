"""A loaded model version: verified, checked for consistency, warmed, then never mutated.

``load_model`` refuses a version whose files do not match the manifest's sha256, whose schema
version is unknown, or whose arrays, vocabularies and indexes disagree on shapes; it raises
``ModelLoadError`` and the caller keeps serving what it had. Entity tokens (``entities.tsv``)
and cold-item category vectors (``cold/``) are optional: older versions without them load and
serve items only. A ``Model`` is immutable once built: hnswlib indexes are only queried (never
added to), so any number of requests may share it while a newer one is being loaded beside it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from contracts import artifacts
from contracts.blend import BlendRule
from contracts.catalog import ENTITY_KINDS, CatalogError, read_catalog, read_categories
from contracts.manifest import Manifest
from contracts.search import HnswSearch

ITEM_INDEX = artifacts.ITEM_INDEX
COLD = artifacts.COLD


class ModelLoadError(Exception):
    """The version cannot be served; the message names the version and what is wrong."""


@dataclass(frozen=True)
class Popular:
    """Ranked (item_id, score) lists: overall and per category."""

    overall: list[tuple[str, float]]
    by_category: dict[str, list[tuple[str, float]]]


@dataclass(frozen=True, eq=False)
class NeighborTable:
    """A precomputed top-k table: rows read from memory-mapped files, shared by all workers."""

    tokens: np.ndarray  # int64 sorted seed pair tokens
    items: np.ndarray  # int32 (n, k) memmap: neighbour item rows, -1 padding
    scores: np.ndarray  # float16 (n, k) memmap

    @property
    def k(self) -> int:
        return int(self.items.shape[1])

    def lookup(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(item rows, scores) of every token, or None if any token has no row."""
        positions = np.searchsorted(self.tokens, tokens)
        if (positions >= len(self.tokens)).any() or (self.tokens[positions] != tokens).any():
            return None
        return np.asarray(self.items[positions]), np.asarray(self.scores[positions], np.float32)


@dataclass(frozen=True, eq=False)
class Model:
    """Everything a request needs from one version, read-only."""

    version: str
    manifest: Manifest
    item_ids: list[str]
    item_row: dict[str, int]
    item_category: list[str | None]
    item_token: np.ndarray  # int64 (n_items, 4): pair token of (item, interaction) or -1
    token_item: np.ndarray  # int64 item row of each pair token
    pair_vectors: np.ndarray  # float32 (n_pairs + n_entities, d) input vectors: the queries
    item_vectors: np.ndarray  # float32 (n_items, d) no-interaction input vectors
    entity_kind: list[str]  # per entity token (token n_pairs + e): its kind (ENTITY_KINDS) …
    entity_ids: list[str]  # … and its id; both empty for a version without entities
    entity_token: dict[tuple[str, str], int]  # (kind, id) → pair-model token
    entity_kinds: frozenset[str]  # the kinds this version has tokens of
    cold_row: dict[str, int]  # category id → row of cold_vectors (empty: no cold items)
    cold_vectors: np.ndarray  # float32 (n_categories, d): the query of an unseen item
    indexes: dict[str, HnswSearch]  # interaction, entity kind or ITEM_INDEX → live index
    tables: dict[tuple[str, str], NeighborTable]  # (seed, target) labels → table
    popular: Popular
    load_seconds: float

    @property
    def blend(self) -> BlendRule | None:
        """When neighbours give way to popular items (contracts/blend.py); None: keep them all."""
        return self.manifest.blend

    @property
    def n_pairs(self) -> int:
        """Pair tokens; entity tokens follow them in the pair model."""
        return len(self.token_item)

    def index_sizes(self) -> dict[str, int]:
        return {name: len(index) for name, index in self.indexes.items()}


def load_model(
    artifacts_dir: Path,
    version: str,
    ef_search: int | None = None,
    check_hashes: bool = True,
    live: Collection[str] | None = None,
) -> Model:
    """Verify and load ``version`` from ``artifacts_dir``; ModelLoadError if it cannot serve.

    ``check_hashes=False`` skips the sha256 of every file (sizes and shapes are still checked):
    for a version another worker of this instance has just hashed (service/coordination.py).
    ``live``: the names of the indexes to load for live search (None: all of them).
    """
    started = time.perf_counter()
    folder = artifacts.version_dir(artifacts_dir, version)
    try:
        manifest = artifacts.verify_version(folder, check_hashes)
        entities = folder / artifacts.ENTITIES if artifacts.ENTITIES in manifest.files else None
        catalog = read_catalog(folder / artifacts.ITEMS, folder / artifacts.TOKENS, entities)
        pair_vectors = np.load(folder / artifacts.PAIRS_IN, mmap_mode="r")
        item_vectors = np.load(folder / artifacts.ITEMS_IN, mmap_mode="r")
        cold_categories, cold_vectors = _cold(folder, manifest)
        popular = _popular(folder / artifacts.POPULAR)
        indexes = {
            info.name: HnswSearch.load(
                folder / info.file, info.space, info.dim, ef_search or info.ef_search, info.count
            )
            for info in manifest.indexes
            if info.similarity == manifest.similarity and (live is None or info.name in live)
        }
        tables = {
            (t.seed, t.target): NeighborTable(
                tokens=np.load(folder / t.tokens),
                items=np.load(folder / t.items, mmap_mode="r"),
                scores=np.load(folder / t.scores, mmap_mode="r"),
            )
            for t in manifest.neighbor_tables
            if t.similarity == manifest.similarity
        }
    except (artifacts.ArtifactError, CatalogError, OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"version {version} refused: {exc}") from exc

    n_items, n_pairs, dim = len(catalog.item_ids), len(catalog.token_item), manifest.dim
    n_tokens, n_cold = catalog.n_tokens, len(cold_categories)
    problems = []
    if pair_vectors.shape != (n_tokens, dim):
        what = f"{n_pairs} pairs + {n_tokens - n_pairs} entities"
        problems.append(f"pair vectors {pair_vectors.shape} != ({n_tokens}, {dim}) ({what})")
    if item_vectors.shape != (n_items, dim):
        problems.append(f"item vectors {item_vectors.shape} != ({n_items}, {dim})")
    if cold_vectors.shape != (n_cold, dim):
        problems.append(f"cold vectors {cold_vectors.shape} != ({n_cold} categories, {dim})")
    seed_rows = {ITEM_INDEX: n_items, COLD: n_cold}
    for (seed, target), table in tables.items():
        if (
            table.items.shape != (len(table.tokens), table.k)
            or table.scores.shape != table.items.shape
        ):
            problems.append(f"neighbour table {seed}>{target} has inconsistent shapes")
        bound = seed_rows.get(seed, n_pairs)
        if len(table.tokens) and (table.tokens.min() < 0 or table.tokens.max() >= bound):
            problems.append(f"neighbour table {seed}>{target} has seeds outside its vectors")
    if not any(info.name == ITEM_INDEX for info in manifest.indexes):
        problems.append("no item index (the fallback for seeds without a pair)")
    for info in manifest.indexes:
        if info.name in ENTITY_KINDS and info.count != catalog.entity_kind.count(info.name):
            problems.append(
                f"index {info.name} holds {info.count} vectors but the version has "
                f"{catalog.entity_kind.count(info.name)} {info.name} entities"
            )
    for name, index in indexes.items():
        if index.dim != dim:
            problems.append(f"index {name} has dim {index.dim}, the manifest says {dim}")
    if problems:
        raise ModelLoadError(f"version {version} refused: " + "; ".join(problems))

    model = Model(
        version=version,
        manifest=manifest,
        item_ids=catalog.item_ids,
        item_row={item: row for row, item in enumerate(catalog.item_ids)},
        item_category=catalog.item_category,
        item_token=catalog.item_token(),
        token_item=catalog.token_item,
        pair_vectors=pair_vectors,
        item_vectors=item_vectors,
        entity_kind=catalog.entity_kind,
        entity_ids=catalog.entity_ids,
        entity_token=catalog.entity_token(),
        entity_kinds=frozenset(catalog.entity_kind),
        cold_row={category: row for row, category in enumerate(cold_categories)},
        cold_vectors=cold_vectors,
        indexes=indexes,
        tables=tables,
        popular=popular,
        load_seconds=0.0,
    )
    _warm(model)
    return replace(model, load_seconds=time.perf_counter() - started)


def _cold(folder: Path, manifest: Manifest) -> tuple[list[str], np.ndarray]:
    """The cold categories and their vectors; none (a (0, dim) array) in older versions."""
    present = [
        name in manifest.files for name in (artifacts.COLD_CATEGORIES, artifacts.COLD_VECTORS)
    ]
    if not any(present):
        return [], np.zeros((0, manifest.dim), np.float32)
    if not all(present):
        raise CatalogError(
            f"{artifacts.COLD_CATEGORIES} and {artifacts.COLD_VECTORS} come together, "
            "the version has only one of them"
        )
    categories = read_categories(folder / artifacts.COLD_CATEGORIES)
    if len(set(categories)) != len(categories):
        raise CatalogError(f"{artifacts.COLD_CATEGORIES} lists a category twice")
    return categories, np.load(folder / artifacts.COLD_VECTORS)


def _popular(path: Path) -> Popular:
    raw = json.loads(path.read_text(encoding="utf-8"))

    def ranked(entries: list[dict[str, Any]]) -> list[tuple[str, float]]:
        return [(str(e["item_id"]), float(e["score"])) for e in entries]

    return Popular(
        overall=ranked(raw["overall"]),
        by_category={c: ranked(entries) for c, entries in raw["by_category"].items()},
    )


def _warm(model: Model) -> None:
    """Query every index once so the first real request pays no cold-start cost."""
    for name, index in model.indexes.items():
        vectors = model.item_vectors if name == ITEM_INDEX else model.pair_vectors
        if len(vectors):
            index.query(np.asarray(vectors[: min(8, len(vectors))]), 10)
