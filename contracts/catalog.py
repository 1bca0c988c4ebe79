"""Readers and writers of a version's vocabulary files (``items.tsv`` and ``tokens.npy``).

``items.tsv`` has one line per item row: ``item_id<TAB>category_id`` (empty category when
unknown). ``tokens.npy`` is int64 ``(n_pairs, 3)``: item row, interaction code, count; the row
number is the pair's token id, which is also its row in the pair embeddings and its label in
the pair indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contracts.interactions import N_INTERACTIONS


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


def read_catalog(items_path: Path, tokens_path: Path) -> Catalog:
    """Read both files and check they agree."""
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
    return Catalog(item_ids, categories, item, interaction, count)
