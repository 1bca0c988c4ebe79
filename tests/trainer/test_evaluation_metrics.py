"""The paper's hit rate (eq. 3) and coverage on hand-made sessions with hand-worked answers.

Two test sessions (items 0..4; V view, C cart, P purchase):

    A: (0,V) (1,V) (2,V) (1,V) (2,C) (2,P)
    B: (0,V) (3,V) (0,C) (3,P)

H of each distinct pair (after its first position, the pair's own item left out):

    (0,V): view {1: 2, 2: 1, 3: 1}   cart {2: 1}   purchase {2: 1, 3: 1}   (A and B together)
    (0,C): purchase {3: 1}
    (1,V): view {2: 1}   cart {2: 1}   purchase {2: 1}    (after its *first* position only)
    (2,V): view {1: 1}
    (3,V): cart {0: 1}
    (2,C), (2,P), (3,P): nothing follows them but their own item

Candidate lists (a model that ignores the interaction): 0 → [1, 3, 4], 1 → [2], 2 → nothing
(a pair no model answers), 3 → [0, 1, 2].
"""

from __future__ import annotations

import numpy as np
import pytest

from contracts.interactions import Interaction
from trainer.evaluation.generators import Candidates
from trainer.evaluation.metrics import build_test_pairs, coverage, hit_rates, pair_hits
from trainer.sessions import Sessions

V, C, P = int(Interaction.VIEW), int(Interaction.CART), int(Interaction.PURCHASE)


def sessions(*rows: list[tuple[int, int]]) -> Sessions:
    lengths = [len(r) for r in rows]
    flat = [pair for r in rows for pair in r]
    return Sessions(
        item=np.array([i for i, _ in flat], dtype=np.int32),
        interaction=np.array([x for _, x in flat], dtype=np.int8),
        offsets=np.r_[0, np.cumsum(lengths)].astype(np.int64),
        user=np.zeros(len(rows), dtype=np.int32),
        start=np.zeros(len(rows), dtype=np.int64),
        dropped_short=0,
        row=np.arange(len(flat), dtype=np.int64),
    )


A = [(0, V), (1, V), (2, V), (1, V), (2, C), (2, P)]
B = [(0, V), (3, V), (0, C), (3, P)]
LISTS = Candidates(
    query=np.array([0, 1, 2, 3]),
    items=np.array([[1, 3, 4], [2, -1, -1], [-1, -1, -1], [0, 1, 2]]),
)


def h_of(pairs, item: int, interaction: int, target: int) -> dict[int, int]:
    p = np.flatnonzero((pairs.item == item) & (pairs.interaction == interaction))[0]
    rows = (pairs.h_pair == p) & (pairs.h_interaction == target)
    return dict(zip(pairs.h_item[rows].tolist(), pairs.h_count[rows].tolist(), strict=True))


def test_h_counts_multiplicities_after_p_over_sessions_without_p_own_item():
    pairs = build_test_pairs(sessions(A, B))
    assert h_of(pairs, 0, V, V) == {1: 2, 2: 1, 3: 1}
    assert h_of(pairs, 0, V, P) == {2: 1, 3: 1}
    assert h_of(pairs, 0, C, P) == {3: 1}
    assert h_of(pairs, 2, V, V) == {1: 1}  # (2,C) and (2,P) are p's own item


def test_a_pair_repeated_in_a_session_counts_what_follows_its_first_position_once():
    pairs = build_test_pairs(sessions(A, B))
    assert h_of(pairs, 1, V, C) == {2: 1}
    assert h_of(pairs, 1, V, V) == {2: 1}


def test_distinct_pairs_are_listed_once_each():
    pairs = build_test_pairs(sessions(A, B))
    assert sorted(zip(pairs.item.tolist(), pairs.interaction.tolist(), strict=True)) == [
        (0, V), (0, C), (1, V), (2, V), (2, C), (2, P), (3, V), (3, P),
    ]  # fmt: skip


def test_hit_rate_is_the_count_weighted_share_averaged_over_pairs_with_a_target():
    rates = hit_rates(build_test_pairs(sessions(A, B)), LISTS, ks=(1, 2, 3))
    # view: (0,V) 2/4, 3/4, 3/4; (1,V) 1, 1, 1; (2,V) unanswerable: 0
    assert rates.hit_rate["view"] == pytest.approx({1: 0.5, 2: 1.75 / 3, 3: 1.75 / 3})
    # cart: (0,V) misses 2; (1,V) hits 2 first; (3,V) hits 0 first
    assert rates.hit_rate["cart"] == pytest.approx({1: 2 / 3, 2: 2 / 3, 3: 2 / 3})
    # purchase: (0,V) 0, 1/2, 1/2; (0,C) 0, 1, 1; (1,V) 1, 1, 1
    assert rates.hit_rate["purchase"] == pytest.approx({1: 1 / 3, 2: 2.5 / 3, 3: 2.5 / 3})
    assert rates.pairs == {"view": 3, "cart": 3, "purchase": 3}
    assert rates.pairs_hit == {"view": 2, "cart": 2, "purchase": 3}  # at the largest K


def test_pairs_a_model_cannot_answer_count_zero_rather_than_being_left_out():
    pairs = build_test_pairs(sessions(A, B))
    mute = Candidates(np.array([0, 1, 2, 3]), np.full((4, 3), -1))
    rates = hit_rates(pairs, mute, ks=(3,))
    assert rates.hit_rate["view"][3] == 0.0 and rates.pairs["view"] == 3
    unasked = Candidates(np.array([1]), np.array([[2, -1, -1]]))  # only item 1 was asked
    assert hit_rates(pairs, unasked, ks=(3,)).hit_rate["view"][3] == pytest.approx(1 / 3)


def test_a_mask_restricts_the_average_to_some_pairs():
    pairs = build_test_pairs(sessions(A, B))
    seen = np.isin(pairs.item, [0])
    rates = hit_rates(pairs, LISTS, ks=(1, 3), mask=seen)
    assert rates.pairs == {"view": 1, "cart": 1, "purchase": 2}
    assert rates.hit_rate["view"] == pytest.approx({1: 0.5, 3: 0.75})
    assert rates.hit_rate["purchase"] == pytest.approx({1: 0.0, 3: 0.75})


def test_coverage_counts_distinct_test_items_and_their_events():
    cov = coverage(build_test_pairs(sessions(A, B)), LISTS)
    assert cov.items == pytest.approx(3 / 4)  # item 2 has no candidates
    assert cov.traffic == pytest.approx(7 / 10)  # item 2 has 3 of the 10 events


def test_k_beyond_the_lists_is_refused():
    with pytest.raises(ValueError, match="K up to 5"):
        hit_rates(build_test_pairs(sessions(A, B)), LISTS, ks=(5,))


def test_hit_rate_never_decreases_with_k():
    rng = np.random.default_rng(3)
    rows = [
        list(zip(rng.integers(0, 40, 12).tolist(), rng.integers(0, 4, 12).tolist(), strict=True))
        for _ in range(60)
    ]
    pairs = build_test_pairs(sessions(*rows))
    query = np.arange(40)
    ranked = np.array([rng.permutation(np.r_[:q, q + 1 : 40])[:30] for q in query])
    ranked[rng.random(ranked.shape) < 0.1] = -1
    rates = hit_rates(pairs, Candidates(query, ranked), ks=(1, 5, 10, 20, 30))
    for by_k in rates.hit_rate.values():
        values = list(by_k.values())
        assert values == sorted(values) and values[-1] > 0


def test_a_sample_of_items_keeps_each_kept_pair_whole_and_its_hit_rate_unchanged():
    pairs = build_test_pairs(sessions(A, B))
    assert pairs.sample_items(4, seed=1) is pairs  # no more items than asked: all of them
    sample = pairs.sample_items(2, seed=1)
    assert sample.n_items == 2 and set(sample.item.tolist()) < set(pairs.item.tolist())
    assert sample.sample_items(2, seed=1) is sample
    again = pairs.sample_items(2, seed=1)
    assert np.array_equal(again.item, sample.item)  # seeded: the same items every time
    for item, interaction in zip(sample.item.tolist(), sample.interaction.tolist(), strict=True):
        for target in (V, C, P):
            assert h_of(sample, item, interaction, target) == h_of(pairs, item, interaction, target)
    full = pair_hits(pairs, LISTS, ks=(1, 3))
    part = pair_hits(sample, LISTS, ks=(1, 3))
    for label, h in part.h.items():
        rows = [
            int(np.flatnonzero((pairs.item == i) & (pairs.interaction == x))[0])
            for i, x in zip(sample.item.tolist(), sample.interaction.tolist(), strict=True)
        ]
        assert np.array_equal(h, full.h[label][rows])
    assert set(np.unique(sample.event_item).tolist()) == set(sample.item.tolist())
