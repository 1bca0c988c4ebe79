"""A loaded model version: verified, checked for consistency, warmed, then never mutated.

``load_model`` reads the version with ``contracts.published.PublishedVersion`` (verified,
memory-mapped, shapes checked) and adds what serving needs: the live hnswlib indexes. The
catalogue stays arrays (``contracts.catalog.CatalogArrays``, memory-mapped from a version of
schema 2, so a worker's private memory does not grow with the catalogue): ids are looked up
with ``rows_of`` and rendered with ``item_ids_of`` (docs/artifacts.md). It refuses a version
whose files do not match the manifest's sha256, whose schema version is unknown, or whose
arrays, vocabularies and indexes disagree on shapes; it raises ``ModelLoadError`` and the
caller keeps serving what it had. Entity tokens and cold-item category vectors (``cold/``) are
optional: older versions without them load and serve items only. A ``Model`` is immutable once
built: hnswlib indexes are only queried (never added to), so any number of requests may share
it while a newer one is being loaded beside it.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from contracts import artifacts
from contracts.blend import BlendRule
from contracts.catalog import ENTITY_KINDS, CatalogArrays, Column
from contracts.manifest import Manifest
from contracts.popular import Popular, Ranked
from contracts.published import NeighborTable, PublishedVersion, VersionRefused
from contracts.search import HnswSearch
from contracts.strings import StringTable

ITEM_INDEX = artifacts.ITEM_INDEX
COLD = artifacts.COLD


class ModelLoadError(Exception):
    """The version cannot be served; the message names the version and what is wrong."""


@dataclass(frozen=True, eq=False)
class Model:
    """Everything a request needs from one version, read-only.

    The catalogue is arrays, memory-mapped from a version of catalogue format 2 (shared by the
    workers of a host through the page cache): no Python object per item, pair or entity; so
    are the popular lists from a version of schema 3 (``contracts/popular.py``). Look
    ids up with ``rows_of`` / ``row_of`` and render rows with ``item_ids_of`` / ``item_id``.
    """

    version: str
    manifest: Manifest
    catalog: CatalogArrays
    category_code: dict[str, int]  # category id → code (the category filter's lookup)
    pair_vectors: np.ndarray  # float32 (n_pairs + n_entities, d) input vectors: the queries
    item_vectors: np.ndarray  # float32 (n_items, d) no-interaction input vectors
    entity_kinds: frozenset[str]  # the kinds this version has tokens of
    cold_row: dict[str, int]  # category id → row of cold_vectors (empty: no cold items)
    cold_vectors: np.ndarray  # float32 (n_categories, d): the query of an unseen item
    indexes: dict[str, HnswSearch]  # interaction, entity kind or ITEM_INDEX → live index
    tables: dict[tuple[str, str], NeighborTable]  # (seed, target) labels → table
    popular: Popular
    popular_row: np.ndarray  # int32 per category code: its row in popular.categories, -1: none
    load_seconds: float

    @property
    def blend(self) -> BlendRule | None:
        """When neighbours give way to popular items (contracts/blend.py); None: keep them all."""
        return self.manifest.blend

    @property
    def n_pairs(self) -> int:
        """Pair tokens; entity tokens follow them in the pair model."""
        return len(self.catalog.tokens)

    @property
    def n_items(self) -> int:
        return len(self.catalog.items)

    @property
    def item_ids(self) -> StringTable:
        """The item id of each row (``item_ids[row]``, ``item_ids.take(rows)``)."""
        return self.catalog.items

    @property
    def item_category_code(self) -> np.ndarray:
        """int32 per item row: its category's code (``category_code``), -1 for none."""
        return self.catalog.item_category_code

    @property
    def item_category(self) -> Column:
        """The category id of each item row, None for none."""
        return self.catalog.item_category

    @property
    def item_token(self) -> np.ndarray:
        """int64 (n_items, 4): pair token of (item, interaction) or -1."""
        return self.catalog.item_tokens

    @property
    def token_item(self) -> np.ndarray:
        """int64: the item row of each pair token."""
        return self.catalog.token_item

    @property
    def entity_kind(self) -> Sequence[str]:
        """The kind of each entity token (token n_pairs + e); empty without entities."""
        return self.catalog.entity_kind

    @property
    def entity_ids(self) -> StringTable:
        """The id of each entity token (token n_pairs + e)."""
        return self.catalog.entities

    @property
    def item_row(self) -> RowLookup:
        """``id in item_row``, ``item_row[id]``, ``item_row.get(id)``: one id at a time."""
        return RowLookup(self.catalog.items)

    @property
    def entity_token(self) -> EntityLookup:
        """``entity_token[(kind, id)]`` and ``.get``: the pair-model token of an entity."""
        return EntityLookup(self.catalog)

    def rows_of(self, item_ids: Sequence[str]) -> np.ndarray:
        """int64: the row of each item id, -1 for an item the version does not know."""
        return self.catalog.items.rows_of(item_ids)

    def row_of(self, item_id: str) -> int | None:
        """The row of one item id, None for an item the version does not know."""
        return self.catalog.items.row(item_id)

    def item_id(self, row: int) -> str:
        return self.catalog.items[row]

    def item_ids_of(self, rows: np.ndarray | Sequence[int]) -> list[str]:
        """The ids of item rows (in range), in order."""
        return self.catalog.items.take(rows)

    def category_of(self, row: int) -> str | None:
        """The category id of an item row, None for none."""
        code = int(self.catalog.item_category_code[row])
        return None if code < 0 else self.catalog.categories[code]

    def popular_of(self, row: int) -> Ranked | None:
        """The popular list of an item row's category, None without a category or a list:
        found by the category's code (``popular_row``), where an id would be hashed."""
        code = int(self.catalog.item_category_code[row])
        at = int(self.popular_row[code]) if code >= 0 else -1
        return None if at < 0 else self.popular.list_at(at)

    def entity_token_of(self, kind: str, entity_id: str) -> int | None:
        """The pair-model token of an entity, None when the version has no such entity."""
        return self.catalog.entity_token_of(kind, entity_id)

    def index_sizes(self) -> dict[str, int]:
        return {name: len(index) for name, index in self.indexes.items()}


class RowLookup:
    """A read-only mapping view, item id → row, over the catalogue's arrays."""

    def __init__(self, items: StringTable) -> None:
        self._items = items

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, str) and self._items.row(item_id) is not None

    def __getitem__(self, item_id: str) -> int:
        row = self._items.row(item_id)
        if row is None:
            raise KeyError(item_id)
        return row

    def get(self, item_id: str, default: int | None = None) -> int | None:
        row = self._items.row(item_id)
        return default if row is None else row


class EntityLookup:
    """A read-only mapping view, (kind, entity id) → pair-model token."""

    def __init__(self, catalog: CatalogArrays) -> None:
        self._catalog = catalog

    def __getitem__(self, key: tuple[str, str]) -> int:
        token = self._catalog.entity_token_of(*key)
        if token is None:
            raise KeyError(key)
        return token

    def get(self, key: tuple[str, str], default: int | None = None) -> int | None:
        token = self._catalog.entity_token_of(*key)
        return default if token is None else token


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
    entity_counts = catalog.entity_counts()
    for info in manifest.indexes:
        if info.name in ENTITY_KINDS and info.count != entity_counts[info.name]:
            problems.append(
                f"index {info.name} holds {info.count} vectors but the version has "
                f"{entity_counts[info.name]} {info.name} entities"
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

    model = Model(
        version=version,
        manifest=manifest,
        catalog=catalog,
        category_code={category: code for code, category in enumerate(catalog.categories)},
        pair_vectors=files.pair_vectors,
        item_vectors=files.item_vectors,
        entity_kinds=frozenset(k for k, n in entity_counts.items() if n),
        cold_row={category: row for row, category in enumerate(files.cold_categories)},
        cold_vectors=files.cold_vectors,
        indexes=indexes,
        tables=files.tables,
        popular=files.popular,
        popular_row=files.popular.categories.rows_of(list(catalog.categories)).astype(np.int32),
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
