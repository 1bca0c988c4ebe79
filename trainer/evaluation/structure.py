"""What a pair model's neighbours look like: topical, complementary, or just popular.

Hit rate rewards popularity wherever popularity predicts (it does on both our datasets), so a
setting can raise it by turning every neighbour list into the best-seller list. This measure
keeps that visible: for the items that were both viewed and carted in training, the top-10
view → view and cart → cart neighbours (the item itself left out), as shares of

* ``same`` — in the item's own category (substitutes, the paper's figure 1b),
* ``complement`` — in its complementary category, when the categories are the synthetic
  generator's pairs (c000 ↔ c001, …; else 0): complements, figure 1c,
* ``popular`` — among the 1 % most frequent training items.
"""

from __future__ import annotations

import numpy as np

from contracts.interactions import Interaction
from contracts.manifest import SPACES
from trainer.config import TrainConfig
from trainer.evaluation.topk import TopKSearch
from trainer.fit import Models
from trainer.synth import complement

NEIGHBOURS = 10
POPULAR_SHARE = 0.01


def neighbour_structure(models: Models, config: TrainConfig) -> dict[str, dict[str, float]]:
    """``{"view": {"same", "complement", "popular"}, "cart": {...}}`` shares in [0, 1]."""
    vocab = models.vocab
    view, cart = int(Interaction.VIEW), int(Interaction.CART)
    rows = np.flatnonzero((vocab.item_token[:, view] >= 0) & (vocab.item_token[:, cart] >= 0))
    category = vocab.item_category.astype(np.int64)
    partner = _complements(vocab.category_ids)
    n_popular = max(1, int(POPULAR_SHARE * vocab.n_items))
    popular = np.zeros(vocab.n_items, dtype=bool)
    popular[np.argsort(-vocab.item_count, kind="stable")[:n_popular]] = True
    stored_side = models.pairs.input if config.index.similarity == "cosine" else models.pairs.output
    out: dict[str, dict[str, float]] = {}
    for seed in (Interaction.VIEW, Interaction.CART):
        stored = np.flatnonzero(vocab.token_interaction == int(seed))
        if len(rows) == 0 or len(stored) < 2:
            out[seed.label] = {"same": 0.0, "complement": 0.0, "popular": 0.0}
            continue
        search = TopKSearch(stored_side[stored], SPACES[config.index.similarity])
        labels, _ = search.query(
            models.pairs.input[vocab.item_token[rows, int(seed)]], NEIGHBOURS + 1
        )
        items = vocab.token_item[stored[labels]].astype(np.int64)
        others = items != rows[:, None]
        first = np.cumsum(others, axis=1) <= NEIGHBOURS
        keep = others & first
        mine = np.broadcast_to(category[rows][:, None], items.shape)
        theirs = category[items]
        known = keep & (mine >= 0)
        out[seed.label] = {
            "same": _share(known & (theirs == mine), known),
            "complement": _share(
                known & (theirs >= 0) & (partner[np.maximum(mine, 0)] == theirs), known
            ),
            "popular": _share(keep & popular[items], keep),
        }
    return out


def _complements(category_ids: np.ndarray) -> np.ndarray:
    """Code of each category's complementary category, -1 when there is none."""
    code = {str(c): i for i, c in enumerate(category_ids)}
    partner = np.full(len(category_ids) + 1, -1, dtype=np.int64)
    for i, c in enumerate(category_ids):
        try:
            partner[i] = code.get(complement(str(c)), -1)
        except ValueError:
            return np.full(len(category_ids) + 1, -1, dtype=np.int64)
    return partner


def _share(hits: np.ndarray, of: np.ndarray) -> float:
    total = int(of.sum())
    return float(hits.sum() / total) if total else 0.0
