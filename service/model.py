"""A loaded model version: verified, checked for consistency, warmed, then never mutated.

``load_model`` reads the version with ``contracts.published.PublishedVersion`` (verified,
memory-mapped, shapes checked) and adds what serving needs: the live hnswlib indexes, the
lookups by id. It refuses a version whose files do not match the manifest's sha256, whose
schema version is unknown, or whose arrays, vocabularies and indexes disagree on shapes; it
raises ``ModelLoadError`` and the caller keeps serving what it had. Entity tokens (``entities.tsv``)
and cold-item category vectors (``cold/``) are optional: older versions without them load and
serve items only. A ``Model`` is immutable once built: hnswlib indexes are only queried (never
added to), so any number of requests may share it while a newer one is being loaded beside it.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from contracts import artifacts
from contracts.blend import BlendRule
from contracts.catalog import ENTITY_KINDS
from contracts.manifest import Manifest
from contracts.popular import Popular
from contracts.published import NeighborTable, PublishedVersion, VersionRefused
from contracts.search import HnswSearch

ITEM_INDEX = artifacts.ITEM_INDEX
COLD = artifacts.COLD


class ModelLoadError(Exception):
    """The version cannot be served; the message names the version and what is wrong."""


@dataclass(frozen=True, eq=False)
class Model:
    """Everything a request needs from one version, read-only."""

    version: str
    manifest: Manifest
    item_ids: list[str]
    item_row: dict[str, int]
    item_category: list[str | None]
    item_category_code: np.ndarray  # int32 per item row: its category's code, -1 for none
    category_code: dict[str, int]  # category id → code (the category filter's lookup)
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
    try:
        files = PublishedVersion.open(artifacts_dir, version, check_hashes)
    except VersionRefused as exc:
        raise ModelLoadError(str(exc)) from exc
    manifest, catalog = files.manifest, files.catalog
    problems = []
    if files.item_vectors is None:
        problems.append("no item vectors (the fallback for seeds without a pair)")
    if not any(info.name == ITEM_INDEX for info in manifest.indexes):
        problems.append("no item index (the fallback for seeds without a pair)")
    for info in manifest.indexes:
        if info.name in ENTITY_KINDS and info.count != catalog.entity_kind.count(info.name):
            problems.append(
                f"index {info.name} holds {info.count} vectors but the version has "
                f"{catalog.entity_kind.count(info.name)} {info.name} entities"
            )
    try:
        indexes = {
            info.name: HnswSearch.load(
                files.folder / info.file,
                info.space,
                info.dim,
                ef_search or info.ef_search,
                info.count,
            )
            for info in manifest.indexes
            if info.similarity == manifest.similarity and (live is None or info.name in live)
        }
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"version {version} refused: {exc}") from exc
    for name, index in indexes.items():
        if index.dim != manifest.dim:
            problems.append(f"index {name} has dim {index.dim}, the manifest says {manifest.dim}")
    if problems or files.item_vectors is None:  # (the second for the type checker)
        raise ModelLoadError(f"version {version} refused: " + "; ".join(problems))

    category_code = {c: i for i, c in enumerate(dict.fromkeys(filter(None, catalog.item_category)))}
    codes = np.array([category_code.get(c or "", -1) for c in catalog.item_category], np.int32)
    model = Model(
        version=version,
        manifest=manifest,
        item_ids=catalog.item_ids,
        item_row={item: row for row, item in enumerate(catalog.item_ids)},
        item_category=catalog.item_category,
        item_category_code=codes,
        category_code=category_code,
        item_token=catalog.item_token(),
        token_item=catalog.token_item,
        pair_vectors=files.pair_vectors,
        item_vectors=files.item_vectors,
        entity_kind=catalog.entity_kind,
        entity_ids=catalog.entity_ids,
        entity_token=catalog.entity_token(),
        entity_kinds=frozenset(catalog.entity_kind),
        cold_row={category: row for row, category in enumerate(files.cold_categories)},
        cold_vectors=files.cold_vectors,
        indexes=indexes,
        tables=files.tables,
        popular=files.popular,
        load_seconds=0.0,
    )
    _warm(model)
    return replace(model, load_seconds=time.perf_counter() - started)


def _warm(model: Model) -> None:
    """Query every index once so the first real request pays no cold-start cost."""
    for name, index in model.indexes.items():
        vectors = model.item_vectors if name == ITEM_INDEX else model.pair_vectors
        if len(vectors):
            index.query(np.asarray(vectors[: min(8, len(vectors))]), 10)
