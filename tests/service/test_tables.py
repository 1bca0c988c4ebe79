"""Precomputed neighbour tables: the same answers as the live index, and a live fallback."""

from __future__ import annotations

import numpy as np

from contracts.interactions import Interaction
from service import retrieval

from app_fixtures import items_with


def test_a_table_row_is_the_live_index_answer_for_that_seed(model):
    table = model.tables[("view", "view")]
    tokens = table.tokens[:50]
    rows, scores = table.lookup(tokens)
    labels, live_scores = model.indexes["view"].query(np.asarray(model.pair_vectors[tokens]), 20)
    assert np.array_equal(rows[:, :20], model.token_item[labels])
    assert np.allclose(scores[:, :20], live_scores, atol=2e-3)


def test_every_view_and_cart_pair_has_a_row(model):
    for seed in ("view", "cart"):
        pairs = np.flatnonzero(model.item_token[:, Interaction.parse(seed)] >= 0)
        table = model.tables[(seed, seed)]
        assert len(table.tokens) == len(pairs)


def test_a_module_deeper_than_the_table_is_answered_by_the_live_index(model):
    seeds = items_with(model, Interaction.VIEW)[:4]
    k = model.tables[("view", "view")].k + 10
    deep = retrieval.module(model, seeds, Interaction.VIEW, [Interaction.VIEW], k, [])
    shallow = retrieval.module(model, seeds, Interaction.VIEW, [Interaction.VIEW], 20, [])
    assert len(deep.candidates) == k
    first_round = {c.item_id for c in shallow.candidates[:4]}  # scores differ by float16 rounding
    assert {c.item_id for c in deep.candidates[:4]} == first_round


def test_the_item_table_is_the_live_item_index_answer(model):
    table = model.tables[("item", "item")]
    rows = np.arange(min(50, len(model.item_ids)))
    found, scores = table.lookup(rows)
    labels, live_scores = model.indexes["item"].query(np.asarray(model.item_vectors[rows]), 20)
    assert np.array_equal(found[:, :20], labels)
    assert np.allclose(scores[:, :20], live_scores, atol=2e-3)
