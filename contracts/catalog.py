"""Readers and writers of a version's vocabulary files (items, pair tokens, entities).

``items.tsv`` has one line per item row: ``item_id<TAB>category_id`` (empty category when
unknown). ``tokens.npy`` is int64 ``(n_pairs, 3)``: item row, interaction code, count; the row
number is the pair's token id, which is also its row in the pair embeddings and its label in
the pair indexes. ``entities.tsv`` (only in versions with entity tokens) has one line per
entity token, ``kind<TAB>id<TAB>count``; line e is token ``n_pairs + e``, after the pairs.

``Catalog`` (lists) is what a writer hands over and what ``read_catalog`` parses from those
files; ``CatalogArrays`` is the same catalogue on arrays, as versions of schema 2 also hold it
(``catalog/``, docs/artifacts.md) and as the service serves it: memory-mapped, no Python object
per item, pair or entity.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from contracts.interactions import N_INTERACTIONS
from contracts.strings import StringTable

ENTITY_KINDS: tuple[str, ...] = ("query", "category", "shop")
"""Entities beyond items that can be tokens of the pair model (the blog's journeys)."""


class CatalogError(ValueError):
    """A vocabulary file cannot be written or read as the format says."""


@dataclass(frozen=True)
class Catalog:
    """The items and pairs of one model version."""

    item_ids: list[str]
    item_category: list[str | None]
    token_item: np.ndarray  # int64
    token_interaction: np.ndarray  # int64
    token_count: np.ndarray  # int64
    entity_kind: list[str] = field(default_factory=list)  # one per entity token, in order
    entity_ids: list[str] = field(default_factory=list)

    @property
    def n_tokens(self) -> int:
        """Rows of the pair model: pairs, then entities."""
        return len(self.token_item) + len(self.entity_ids)

    @property
    def tokens(self) -> np.ndarray:
        """int64 (n_pairs, 3): the columns of ``tokens.npy`` (its memory map when read)."""
        base = self.token_item.base
        if isinstance(base, np.ndarray) and base.shape == (len(self.token_item), 3):
            return base
        return np.stack([self.token_item, self.token_interaction, self.token_count], axis=1)

    def entity_token(self) -> dict[tuple[str, str], int]:
        """(kind, id) → token of every entity."""
        first = len(self.token_item)
        pairs = zip(self.entity_kind, self.entity_ids, strict=True)
        return {pair: first + e for e, pair in enumerate(pairs)}

    def item_token(self) -> np.ndarray:
        """int64 (n_items, N_INTERACTIONS): the pair token of each item and interaction, or -1."""
        table = np.full((len(self.item_ids), N_INTERACTIONS), -1, dtype=np.int64)
        table[self.token_item, self.token_interaction] = np.arange(len(self.token_item))
        return table


def write_items(path: Path, item_ids: Sequence[str], categories: Sequence[str | None]) -> None:
    """Write ``items.tsv``; ids holding a tab or a line break are refused."""
    lines = []
    for item, category in zip(item_ids, categories, strict=True):
        for value in (item, category or ""):
            if "\t" in value or "\n" in value or "\r" in value:
                raise CatalogError(f"id {value!r} holds a tab or line break")
        lines.append(f"{item}\t{category or ''}\n")
    path.write_text("".join(lines), encoding="utf-8")


def write_tokens(path: Path, item: np.ndarray, interaction: np.ndarray, count: np.ndarray) -> None:
    np.save(path, np.stack([item, interaction, count], axis=1).astype(np.int64))


def write_entities(
    path: Path, kinds: Sequence[str], ids: Sequence[str], counts: Sequence[int]
) -> None:
    """Write ``entities.tsv``; unknown kinds and ids holding a tab or a line break are refused."""
    lines = []
    for kind, entity, count in zip(kinds, ids, counts, strict=True):
        if kind not in ENTITY_KINDS:
            raise CatalogError(f"unknown entity kind {kind!r}; expected one of {ENTITY_KINDS}")
        if not entity or any(ch in entity for ch in "\t\n\r"):
            raise CatalogError(f"{kind} id {entity!r} is empty or holds a tab or line break")
        lines.append(f"{kind}\t{entity}\t{int(count)}\n")
    path.write_text("".join(lines), encoding="utf-8")


def read_entities(path: Path) -> tuple[list[str], list[str]]:
    """The kinds and ids of ``entities.tsv``, in token order."""
    kinds: list[str] = []
    ids: list[str] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 3 or fields[0] not in ENTITY_KINDS or not fields[1]:
                raise CatalogError(f"{path}:{number}: expected kind<TAB>id<TAB>count")
            kinds.append(fields[0])
            ids.append(fields[1])
    return kinds, ids


def write_categories(path: Path, category_ids: Sequence[str]) -> None:
    """Write one category id per line (``cold/categories.tsv``)."""
    for category in category_ids:
        if not category or any(ch in category for ch in "\t\n\r"):
            raise CatalogError(f"category id {category!r} is empty or holds a tab or line break")
    path.write_text("".join(f"{c}\n" for c in category_ids), encoding="utf-8")


def read_categories(path: Path) -> list[str]:
    """The category ids of ``cold/categories.tsv``, in row order."""
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines[-1]:
        raise CatalogError(f"{path}: the last line is not terminated")
    return lines[:-1]


def read_catalog(items_path: Path, tokens_path: Path, entities_path: Path | None = None) -> Catalog:
    """Read the files (``entities_path`` when the version has one) and check they agree."""
    item_ids: list[str] = []
    categories: list[str | None] = []
    with open(items_path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 2 or not fields[0]:
                raise CatalogError(f"{items_path}:{number}: expected item_id<TAB>category_id")
            item_ids.append(fields[0])
            categories.append(fields[1] or None)
    tokens = np.asarray(np.load(tokens_path, mmap_mode="r", allow_pickle=False))
    if tokens.ndim != 2 or tokens.shape[1] != 3:
        raise CatalogError(f"{tokens_path}: expected shape (n, 3), found {tokens.shape}")
    item, interaction, count = tokens[:, 0], tokens[:, 1], tokens[:, 2]
    if len(item) and (item.min() < 0 or item.max() >= len(item_ids)):
        raise CatalogError(f"{tokens_path}: item rows outside 0..{len(item_ids) - 1}")
    if len(interaction) and (interaction.min() < 0 or interaction.max() >= N_INTERACTIONS):
        raise CatalogError(f"{tokens_path}: interaction codes outside 0..{N_INTERACTIONS - 1}")
    kinds, ids = read_entities(entities_path) if entities_path is not None else ([], [])
    return Catalog(item_ids, categories, item, interaction, count, kinds, ids)


class Column(Sequence[str | None]):
    """One string (or None) per row, read through codes into a small table of names."""

    def __init__(self, codes: np.ndarray, names: Sequence[str] | StringTable) -> None:
        self.codes = codes
        self.names = names

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, row: int) -> str | None:  # type: ignore[override]
        code = int(self.codes[row])
        return None if code < 0 else self.names[code]

    def __iter__(self) -> Iterator[str | None]:
        names = list(self.names)
        return (None if c < 0 else names[c] for c in np.asarray(self.codes).tolist())


@dataclass(frozen=True, eq=False)
class CatalogArrays:
    """The catalogue of one version on arrays (memory-mapped when read from a version of
    catalogue format 2): no Python object per item, pair or entity.

    ``items`` holds the item ids by row with their lookup; ``item_category_code`` the row in
    ``categories`` of each item's category (-1: none); ``tokens`` is ``tokens.npy``;
    ``item_tokens`` the pair token of each (item, interaction), -1 for none; entity token
    ``n_pairs + e`` has kind ``ENTITY_KINDS[entity_kind_code[e]]`` and id ``entities[e]``.
    """

    items: StringTable
    item_category_code: np.ndarray  # int32 (n_items,)
    categories: StringTable
    tokens: np.ndarray  # int64 (n_pairs, 3): item row, interaction, count
    item_tokens: np.ndarray  # int64 (n_items, N_INTERACTIONS)
    entity_kind_code: np.ndarray  # int8 (n_entities,)
    entities: StringTable

    @classmethod
    def build(cls, catalog: Catalog) -> CatalogArrays:
        """The arrays of a catalogue of lists (the writer's; or a format-1 version converted
        at load, in memory)."""
        names = list(dict.fromkeys(c for c in catalog.item_category if c))
        code = {name: i for i, name in enumerate(names)}
        categories = np.fromiter(
            (code[c] if c else -1 for c in catalog.item_category),
            np.int32,
            len(catalog.item_category),
        )
        kinds = np.fromiter(
            (ENTITY_KINDS.index(k) for k in catalog.entity_kind), np.int8, len(catalog.entity_kind)
        )
        return cls(
            items=StringTable.build(catalog.item_ids),
            item_category_code=categories,
            categories=StringTable.build(names),
            tokens=np.asarray(catalog.tokens, np.int64),
            item_tokens=catalog.item_token(),
            entity_kind_code=kinds,
            entities=StringTable.build(catalog.entity_ids),
        )

    @property
    def item_ids(self) -> StringTable:
        return self.items

    @property
    def item_category(self) -> Column:
        """The category id of each item row, None for none."""
        return Column(self.item_category_code, self.categories)

    @property
    def token_item(self) -> np.ndarray:
        return self.tokens[:, 0]

    @property
    def token_interaction(self) -> np.ndarray:
        return self.tokens[:, 1]

    @property
    def token_count(self) -> np.ndarray:
        return self.tokens[:, 2]

    @property
    def entity_kind(self) -> Sequence[str]:
        return Column(self.entity_kind_code, ENTITY_KINDS)  # type: ignore[return-value]

    @property
    def entity_ids(self) -> StringTable:
        return self.entities

    @property
    def n_tokens(self) -> int:
        """Rows of the pair model: pairs, then entities."""
        return len(self.tokens) + len(self.entities)

    def entity_counts(self) -> dict[str, int]:
        """Entity tokens per kind."""
        counts = np.bincount(
            np.asarray(self.entity_kind_code, np.int64), minlength=len(ENTITY_KINDS)
        )
        return {kind: int(counts[i]) for i, kind in enumerate(ENTITY_KINDS)}

    def entity_token(self) -> dict[tuple[str, str], int]:
        """(kind, id) → token of every entity (a dict: for offline tools, not for serving)."""
        first = len(self.tokens)
        pairs = zip(self.entity_kind, self.entities, strict=True)
        return {pair: first + e for e, pair in enumerate(pairs)}

    def entity_token_of(self, kind: str, entity_id: str) -> int | None:
        """The pair-model token of one entity, None when the version has no such entity."""
        if kind not in ENTITY_KINDS:
            return None
        code = ENTITY_KINDS.index(kind)
        for e in self.entities.rows_with(entity_id):
            if int(self.entity_kind_code[e]) == code:
                return len(self.tokens) + e
        return None

    def item_token(self) -> np.ndarray:
        return self.item_tokens

    def problems(self) -> list[str]:
        """What disagrees among the arrays."""
        n_items, n_pairs = len(self.items), len(self.tokens)
        found = []
        if self.item_category_code.shape != (n_items,):
            found.append(f"item categories {self.item_category_code.shape} != ({n_items},)")
        elif n_items and int(self.item_category_code.max()) >= len(self.categories):
            found.append("item categories outside the category table")
        if self.item_tokens.shape != (n_items, N_INTERACTIONS):
            found.append(f"item tokens {self.item_tokens.shape} != ({n_items}, {N_INTERACTIONS})")
        if self.tokens.ndim != 2 or self.tokens.shape[1] != 3:
            found.append(f"tokens: expected shape (n, 3), found {self.tokens.shape}")
        elif n_pairs and (
            int(self.tokens[:, 0].min()) < 0 or int(self.tokens[:, 0].max()) >= n_items
        ):
            found.append(f"tokens: item rows outside 0..{n_items - 1}")
        elif n_pairs and (
            int(self.tokens[:, 1].min()) < 0 or int(self.tokens[:, 1].max()) >= N_INTERACTIONS
        ):
            found.append(f"tokens: interaction codes outside 0..{N_INTERACTIONS - 1}")
        if self.entity_kind_code.shape != (len(self.entities),):
            found.append(
                f"entity kinds {self.entity_kind_code.shape} != ({len(self.entities)},) entity ids"
            )
        return found
