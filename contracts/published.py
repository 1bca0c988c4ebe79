"""A published version: the one reader of a version's files, and the writer of its model files.

``PublishedVersion.open`` verifies the manifest (every file's size and, unless told otherwise,
sha256), reads the catalogue, memory-maps the vectors, neighbour tables and popular lists, and
checks that all of them agree on shapes; it raises ``VersionRefused`` naming every
problem. The service builds its model on it (``service/model.py``: live indexes, lookups), and
``evaluate --artifacts`` scores it (``trainer/evaluation/published.py``). Arrays are read-only
memory maps, so workers of one host share their pages.

Optional parts, absent from older versions, read as empty: entity tokens (``entities.tsv``),
cold-item category vectors (``cold/``), the no-interaction vectors, neighbour tables. A
version of schema 1 or 2 has ``popular.json`` instead of ``popular/``, converted at load.

``write_model_files`` writes the catalogue and the embeddings where ``open`` reads them; the
trainer (``trainer/pipeline.py``) and the serving benchmark's synthetic versions
(``bench/synthetic_model.py``) both publish through it, then add indexes and tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from contracts import artifacts
from contracts.catalog import (
    Catalog,
    CatalogArrays,
    CatalogError,
    read_catalog,
    read_categories,
    write_entities,
    write_items,
    write_tokens,
)
from contracts.manifest import Manifest
from contracts.popular import Popular
from contracts.strings import StringTable, StringTableError, mapped, table_files


class VersionRefused(artifacts.ArtifactError):
    """The version's files are missing, damaged or disagree; the message says which."""


@dataclass(frozen=True, eq=False)
class NeighborTable:
    """A precomputed top-k table: rows read from memory-mapped files."""

    tokens: np.ndarray  # int64 sorted seed tokens
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
class PublishedVersion:
    """The files of one version, verified and consistent; arrays memory-mapped, read-only."""

    version: str
    folder: Path
    manifest: Manifest
    catalog: CatalogArrays
    pair_vectors: np.ndarray  # float32 (pairs + entities, d) input vectors
    item_vectors: np.ndarray | None  # float32 (items, d) no-interaction input vectors
    cold_categories: list[str]  # categories with a vector for items the model never saw …
    cold_vectors: np.ndarray  # … float32 (len(cold_categories), d)
    tables: dict[tuple[str, str], NeighborTable]  # (seed, target) → table, the version's similarity
    popular: Popular

    @classmethod
    def open(cls, artifacts_dir: Path, version: str, check_hashes: bool = True) -> PublishedVersion:
        """Read ``version``; VersionRefused when a file is missing, damaged or inconsistent.

        ``check_hashes=False`` skips the sha256 of every file (sizes and shapes are checked):
        for a version another process of this host has just hashed.
        """
        folder = artifacts.version_dir(artifacts_dir, version)
        try:
            manifest = artifacts.verify_version(folder, check_hashes)
            files = manifest.files
            catalog = _catalog(folder, manifest)
            items_in = folder / artifacts.ITEMS_IN if artifacts.ITEMS_IN in files else None
            cold_categories, cold_vectors = _cold(folder, manifest)
            opened = cls(
                version=version,
                folder=folder,
                manifest=manifest,
                catalog=catalog,
                pair_vectors=np.load(folder / artifacts.PAIRS_IN, mmap_mode="r"),
                item_vectors=None if items_in is None else np.load(items_in, mmap_mode="r"),
                cold_categories=cold_categories,
                cold_vectors=cold_vectors,
                tables=_tables(folder, manifest),
                popular=_popular(folder, manifest),
            )
        except (
            artifacts.ArtifactError,
            CatalogError,
            StringTableError,
            OSError,
            ValueError,
            KeyError,
        ) as exc:
            raise VersionRefused(f"version {version} refused: {exc}") from exc
        problems = opened.problems()
        if problems:
            raise VersionRefused(f"version {version} refused: " + "; ".join(problems))
        return opened

    def pair_outputs(self) -> np.ndarray:
        """The pair model's output vectors (memory-mapped): for in·out similarity, evaluation."""
        return np.load(self.folder / artifacts.PAIRS_OUT, mmap_mode="r")

    def item_outputs(self) -> np.ndarray | None:
        """The no-interaction model's output vectors, None for a version without that model."""
        if artifacts.ITEMS_OUT not in self.manifest.files:
            return None
        return np.load(self.folder / artifacts.ITEMS_OUT, mmap_mode="r")

    def problems(self) -> list[str]:
        """Every disagreement between the version's arrays, vocabularies and tables."""
        catalog, dim = self.catalog, self.manifest.dim
        n_items, n_pairs = len(catalog.item_ids), len(catalog.token_item)
        n_tokens = catalog.n_tokens
        n_cold = len(self.cold_categories)
        found = catalog.problems()
        if self.pair_vectors.shape != (n_tokens, dim):
            what = f"{n_pairs} pairs + {n_tokens - n_pairs} entities"
            found.append(f"pair vectors {self.pair_vectors.shape} != ({n_tokens}, {dim}) ({what})")
        if self.item_vectors is not None and self.item_vectors.shape != (n_items, dim):
            found.append(f"item vectors {self.item_vectors.shape} != ({n_items}, {dim})")
        if self.cold_vectors.shape != (n_cold, dim):
            found.append(f"cold vectors {self.cold_vectors.shape} != ({n_cold} categories, {dim})")
        seed_rows = {artifacts.ITEM_INDEX: n_items, artifacts.COLD: n_cold}
        for (seed, target), table in self.tables.items():
            if (
                table.items.shape != (len(table.tokens), table.k)
                or table.scores.shape != table.items.shape
            ):
                found.append(f"neighbour table {seed}>{target} has inconsistent shapes")
            bound = seed_rows.get(seed, n_pairs)
            if len(table.tokens) and (table.tokens.min() < 0 or table.tokens.max() >= bound):
                found.append(f"neighbour table {seed}>{target} has seeds outside its vectors")
        return found


def write_model_files(
    folder: Path,
    catalog: Catalog,
    pairs: tuple[np.ndarray, np.ndarray],
    items: tuple[np.ndarray, np.ndarray] | None = None,
    entity_counts: Sequence[int] = (),
) -> None:
    """The catalogue (``items.tsv``, ``tokens.npy``, ``entities.tsv`` with the entities'
    counts, and the same as arrays: ``catalog/``), and the (input, output) vectors of the pair
    model and of the no-interaction model, into a version being staged
    (``artifacts.stage_version``)."""
    write_items(folder / artifacts.ITEMS, catalog.item_ids, catalog.item_category)
    write_tokens(
        folder / artifacts.TOKENS,
        catalog.token_item,
        catalog.token_interaction,
        catalog.token_count,
    )
    if catalog.entity_ids:
        write_entities(
            folder / artifacts.ENTITIES, catalog.entity_kind, catalog.entity_ids, entity_counts
        )
    write_catalog_arrays(folder, CatalogArrays.build(catalog))  # ids checked by the writers above
    (folder / artifacts.PAIRS_IN).parent.mkdir(parents=True, exist_ok=True)
    np.save(folder / artifacts.PAIRS_IN, pairs[0])
    np.save(folder / artifacts.PAIRS_OUT, pairs[1])
    if items is not None:
        np.save(folder / artifacts.ITEMS_IN, items[0])
        np.save(folder / artifacts.ITEMS_OUT, items[1])


def write_catalog_arrays(folder: Path, catalog: CatalogArrays) -> None:
    """The catalogue's arrays (``catalog/``, format 2) into a version being staged."""
    catalog.items.write(folder, artifacts.CATALOG_ITEMS)
    catalog.categories.write(folder, artifacts.CATALOG_CATEGORIES)
    np.save(folder / artifacts.CATALOG_ITEM_CATEGORY, np.asarray(catalog.item_category_code))
    np.save(folder / artifacts.CATALOG_ITEM_TOKENS, np.asarray(catalog.item_tokens, np.int64))
    if len(catalog.entities):
        catalog.entities.write(folder, artifacts.CATALOG_ENTITIES)
        np.save(folder / artifacts.CATALOG_ENTITY_KIND, np.asarray(catalog.entity_kind_code))


def _catalog(folder: Path, manifest: Manifest) -> CatalogArrays:
    """The catalogue: memory-mapped arrays (``catalog/``), or, for a version written before
    them, ``items.tsv`` and ``entities.tsv`` parsed and converted in memory (slower, private)."""
    files = manifest.files
    if artifacts.CATALOG_ITEM_TOKENS not in files:
        entities = folder / artifacts.ENTITIES if artifacts.ENTITIES in files else None
        lists = read_catalog(folder / artifacts.ITEMS, folder / artifacts.TOKENS, entities)
        return replace(CatalogArrays.build(lists), tokens=lists.tokens)
    tokens = mapped(folder / artifacts.TOKENS)
    with_entities = artifacts.CATALOG_ENTITY_KIND in files
    for stem in (artifacts.CATALOG_ITEMS, artifacts.CATALOG_CATEGORIES):
        for name in table_files(stem):
            if name not in files:
                raise CatalogError(f"{name} is missing from the version's files")
    return CatalogArrays(
        items=StringTable.open(folder, artifacts.CATALOG_ITEMS),
        item_category_code=mapped(folder / artifacts.CATALOG_ITEM_CATEGORY),
        categories=StringTable.open(folder, artifacts.CATALOG_CATEGORIES),
        tokens=tokens,
        item_tokens=mapped(folder / artifacts.CATALOG_ITEM_TOKENS),
        entity_kind_code=(
            mapped(folder / artifacts.CATALOG_ENTITY_KIND)
            if with_entities
            else np.zeros(0, np.int8)
        ),
        entities=(
            StringTable.open(folder, artifacts.CATALOG_ENTITIES)
            if with_entities
            else StringTable.build([])
        ),
    )


def _popular(folder: Path, manifest: Manifest) -> Popular:
    """The popular lists: memory-mapped arrays (``popular/``, schema 3), or, for a version of
    schema 1 or 2, its ``popular.json`` converted in memory (slower, private to the worker)."""
    if manifest.schema_version < 3:
        return Popular.from_json(folder / artifacts.POPULAR_JSON)
    unlisted = [name for name in artifacts.POPULAR_FILES if name not in manifest.files]
    if unlisted:  # what is listed has been verified; what is not could be anything
        raise artifacts.ArtifactError(f"{unlisted[0]} is missing from the version's files")
    return Popular.open(folder / artifacts.POPULAR)


def _cold(folder: Path, manifest: Manifest) -> tuple[list[str], np.ndarray]:
    """The cold categories and their vectors; none (a (0, dim) array) in older versions."""
    names = (artifacts.COLD_CATEGORIES, artifacts.COLD_VECTORS)
    present = [name in manifest.files for name in names]
    if not any(present):
        return [], np.zeros((0, manifest.dim), np.float32)
    if not all(present):
        raise CatalogError(f"{names[0]} and {names[1]} come together, the version has one of them")
    categories = read_categories(folder / artifacts.COLD_CATEGORIES)
    if len(set(categories)) != len(categories):
        raise CatalogError(f"{artifacts.COLD_CATEGORIES} lists a category twice")
    return categories, np.load(folder / artifacts.COLD_VECTORS)


def _tables(folder: Path, manifest: Manifest) -> dict[tuple[str, str], NeighborTable]:
    return {
        (t.seed, t.target): NeighborTable(
            tokens=mapped(folder / t.tokens),
            items=mapped(folder / t.items),
            scores=mapped(folder / t.scores),
        )
        for t in manifest.neighbor_tables
        if t.similarity == manifest.similarity
    }
