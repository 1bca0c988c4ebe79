"""trainer/evaluation/served.py: the served list and the blend rule learned on validation."""

from __future__ import annotations

import math

import numpy as np

from contracts.blend import BlendRule
from contracts.interactions import Interaction
from trainer.evaluation.metrics import TestPairs
from trainer.evaluation.served import (
    Backfill,
    SeedNeighbours,
    ServedGenerator,
    backfill_lists,
    learn_blend,
    served_candidates,
)

VIEW, PURCHASE = int(Interaction.VIEW), int(Interaction.PURCHASE)


def test_backfill_lists_rank_each_category_and_all_items_by_score():
    score = np.array([5.0, 1.0, 3.0, 0.0, 4.0, 2.0])
    category = np.array([0, 0, 1, 1, -1, 0])
    lists = backfill_lists(score, category, per_category=2, overall=3)
    assert lists.by_category.tolist() == [[0, 5], [2, -1], [-1, -1]]  # last row: no category
    assert lists.overall.tolist() == [0, 4, 2]


def neighbours_of(items, scores, way=0) -> SeedNeighbours:
    items, scores = np.array(items, np.int64), np.array(scores, np.float32)
    query = np.arange(len(items), dtype=np.int64)
    return SeedNeighbours(query, np.full(len(items), way, np.int8), items, scores)


def test_the_served_list_is_confident_neighbours_then_the_category_then_everything():
    neighbours = neighbours_of([[5, 6, 7]], [[0.9, 0.5, 0.2]])
    backfill = Backfill(
        by_category=np.array([[6, 8, 0], [-1, -1, -1]]),
        overall=np.array([9, 0, 5]),
        category=np.zeros(10, np.int64),
    )
    found = served_candidates(neighbours, np.array([0.4], np.float32), backfill, 6)
    # 7 is below the threshold; 6 is not repeated; the query item 0 is never served
    assert found.items.tolist() == [[5, 6, 8, 9, -1, -1]]
    everything = served_candidates(neighbours, np.array([-np.inf], np.float32), backfill, 4)
    assert everything.items.tolist() == [[5, 6, 7, 8]]


def test_the_generator_takes_the_threshold_of_the_module_size():
    neighbours = neighbours_of([[5, 6]], [[0.9, 0.5]])
    backfill = Backfill(np.array([[8, 9], [-1, -1]]), np.array([7]), np.zeros(10, np.int64))
    rule = BlendRule(thresholds={"item-interaction": {2: 0.8, 4: 0.0}})
    generator = ServedGenerator(neighbours, backfill, rule)
    assert generator.candidates(np.array([0]), 2).items.tolist() == [[5, 8]]
    assert generator.candidates(np.array([0]), 4).items.tolist() == [[5, 6, 8, 9]]


def pairs_with_next(next_items: list[list[int]]) -> TestPairs:
    """Test pair p = (p, view) for p = 0..n−1, each followed by a purchase of next_items[p]."""
    h_pair = np.repeat(np.arange(len(next_items)), [len(n) for n in next_items])
    h_item = np.concatenate([np.array(n, np.int64) for n in next_items])
    return TestPairs(
        item=np.arange(len(next_items), dtype=np.int64),
        interaction=np.full(len(next_items), VIEW, np.int8),
        h_pair=h_pair.astype(np.int64),
        h_item=h_item,
        h_interaction=np.full(len(h_item), PURCHASE, np.int8),
        h_count=np.ones(len(h_item), np.int64),
        event_item=np.arange(len(next_items), dtype=np.int64),
    )


def test_confident_neighbours_are_kept_and_weak_ones_give_way_to_the_category():
    """Seeds 0..39: a neighbour scoring 0.9 is the next purchase for half of them; the other
    half's only neighbour scores 0.1 and is never bought, while their category's best seller
    (item 99) is. The rule must keep the first and drop the second."""
    n = 40
    strong = np.arange(n) % 2 == 0
    items = np.where(strong, 100 + np.arange(n), 200 + np.arange(n))[:, None]
    scores = np.where(strong, 0.9, 0.1)[:, None].astype(np.float32)
    neighbours = SeedNeighbours(np.arange(n), np.zeros(n, np.int8), items, scores)
    backfill = Backfill(np.array([[99], [-1]]), np.array([99]), np.zeros(300, np.int64))
    bought = [[100 + p] if strong[p] else [99] for p in range(n)]
    rule = learn_blend(neighbours, backfill, pairs_with_next(bought), ks=(1,))
    threshold = rule.threshold("item-interaction", 1)
    assert 0.1 < threshold <= 0.9
    assert rule.chosen_on["objective"]["item-interaction"]["1"]["objective"] == 1.0
    assert rule.chosen_on["pairs"] == {"item-interaction": n, "item": 0, "category": 0}
    assert math.isinf(rule.threshold("category", 1))  # no pair was searched that way


def test_without_evidence_for_the_neighbours_the_category_is_served():
    n = 20
    neighbours = SeedNeighbours(
        np.arange(n), np.zeros(n, np.int8), (100 + np.arange(n))[:, None],
        np.full((n, 1), 0.7, np.float32),
    )  # fmt: skip
    backfill = Backfill(np.array([[99], [-1]]), np.array([99]), np.zeros(300, np.int64))
    rule = learn_blend(neighbours, backfill, pairs_with_next([[50]] * n), ks=(1,))  # nothing hits
    assert rule.threshold("item-interaction", 1) > 0.7  # a tie: the backfill wins
