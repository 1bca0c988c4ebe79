"""Neighbour structure on a hand-made pair model: 22 items, two complementary categories.

View vectors point along their category's axis (plus a little noise), so an item's 10 view
neighbours are the other 10 items of its category; item 0 is the one popular item (the top
1 % of 22 items is one item) and sits in category c000, so each of the 10 other c000 items
has it among its neighbours: 10 popular neighbours out of 22 × 10.
"""

from __future__ import annotations

import numpy as np
import pytest

from contracts.interactions import N_INTERACTIONS, Interaction
from trainer.config import TrainConfig
from trainer.evaluation.structure import neighbour_structure
from trainer.fit import Models
from trainer.sessions import Sessions
from trainer.sgns import SGNSResult
from trainer.vocab import Vocab

N = 22
V, C = int(Interaction.VIEW), int(Interaction.CART)


def toy_models() -> Models:
    rng = np.random.default_rng(0)
    category = np.repeat([0, 1], N // 2).astype(np.int32)
    token_item = np.r_[np.arange(N), np.arange(N)].astype(np.int32)
    token_interaction = np.r_[np.full(N, V), np.full(N, C)].astype(np.int8)
    item_token = np.full((N, N_INTERACTIONS), -1, dtype=np.int32)
    item_token[token_item, token_interaction] = np.arange(2 * N)
    vectors = rng.normal(scale=0.01, size=(2 * N, 4)).astype(np.float32)
    vectors[np.arange(N), category] += 1.0  # views: along their category's axis
    vectors[N:, 2] += 1.0  # carts: all alike
    vocab = Vocab(
        item_ids=np.array([f"i{k}" for k in range(N)], dtype=object),
        item_category=category,
        item_count=np.r_[100, np.ones(N - 1)].astype(np.int64),
        category_ids=np.array(["c000", "c001"], dtype=object),
        token_item=token_item,
        token_interaction=token_interaction,
        token_count=np.ones(2 * N, dtype=np.int64),
        item_token=item_token,
    )
    pairs = SGNSResult(vectors, vectors, 0, 0.0, 0.0, 1, 1, 0, 0, 0, 0, 0)
    none = np.zeros(0, np.int64)
    empty = Sessions(np.zeros(0, np.int32), np.zeros(0, np.int8), np.zeros(1, np.int64),
                     np.zeros(0, np.int32), none, 0, none)  # fmt: skip
    return Models(empty, vocab, pairs, None)


def test_view_neighbours_of_category_clusters_are_all_substitutes():
    shares = neighbour_structure(toy_models(), TrainConfig())
    assert shares["view"]["same"] == 1.0 and shares["view"]["complement"] == 0.0
    assert shares["view"]["popular"] == pytest.approx(10 / (N * 10))


def test_same_and_complement_split_when_categories_do_not_matter():
    shares = neighbour_structure(toy_models(), TrainConfig())["cart"]
    assert shares["same"] + shares["complement"] == pytest.approx(1.0)
    assert 0.0 < shares["same"] < 1.0
