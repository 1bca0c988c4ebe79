"""Readers and writers of a version's vocabulary files (items, pair tokens, entities).

``items.tsv`` has one line per item row: ``item_id<TAB>category_id`` (empty category when
unknown). ``tokens.npy`` is int64 ``(n_pairs, 3)``: item row, interaction code, count; the row
number is the pair's token id, which is also its row in the pair embeddings and its label in
the pair indexes. ``entities.tsv`` (only in versions with entity tokens) has one line per
entity token, ``kind<TAB>id<TAB>count``; line e is token ``n_pairs + e``, after the pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from contracts.interactions import N_INTERACTIONS

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
    tokens = np.load(tokens_path, allow_pickle=False)
    if tokens.ndim != 2 or tokens.shape[1] != 3:
        raise CatalogError(f"{tokens_path}: expected shape (n, 3), found {tokens.shape}")
    item, interaction, count = tokens[:, 0], tokens[:, 1], tokens[:, 2]
    if len(item) and (item.min() < 0 or item.max() >= len(item_ids)):
        raise CatalogError(f"{tokens_path}: item rows outside 0..{len(item_ids) - 1}")
    if len(interaction) and (interaction.min() < 0 or interaction.max() >= N_INTERACTIONS):
        raise CatalogError(f"{tokens_path}: interaction codes outside 0..{N_INTERACTIONS - 1}")
    kinds, ids = read_entities(entities_path) if entities_path is not None else ([], [])
    return Catalog(item_ids, categories, item, interaction, count, kinds, ids)
