"""The merge rule of a module (service.merge.fair_merge), on hand-made ranked lists."""

from __future__ import annotations

import numpy as np

from service.merge import fair_merge


def merged(lists: list[list[tuple[int, float]]], k: int, blocked: tuple[int, ...] = ()):
    """The picks as (seed, item row, score), in answer order."""
    arrays = [
        (np.array([r for r, _ in ranked], np.int64), np.array([s for _, s in ranked], np.float32))
        for ranked in lists
    ]
    seeds, positions = fair_merge(arrays, k, blocked)
    return [
        (s, lists[s][p][0], lists[s][p][1])
        for s, p in zip(seeds.tolist(), positions.tolist(), strict=True)
    ]


def test_rounds_give_every_seed_one_candidate_ordered_by_score():
    a = [(10, 0.99), (11, 0.98), (12, 0.97)]
    b = [(20, 0.50), (21, 0.40)]
    assert merged([a, b], 4) == [(0, 10, 0.99), (1, 20, 0.5), (0, 11, 0.98), (1, 21, 0.4)]


def test_a_seed_that_runs_out_leaves_the_rounds_to_the_others():
    a = [(10, 0.9)]
    b = [(20, 0.8), (21, 0.7), (22, 0.6)]
    assert [row for _, row, _ in merged([a, b], 10)] == [10, 20, 21, 22]


def test_an_item_found_by_two_seeds_is_credited_to_the_one_ranking_it_higher():
    a = [(10, 0.9), (30, 0.8), (11, 0.7)]  # 30 is a's 2nd
    b = [(30, 0.6), (20, 0.5)]  # and b's 1st: b gets it, a moves on to 11
    picks = merged([a, b], 10)
    assert [(seed, row) for seed, row, _ in picks] == [(0, 10), (1, 30), (0, 11), (1, 20)]


def test_on_equal_ranks_the_better_score_then_the_newer_seed_wins():
    assert merged([[(30, 0.5)], [(30, 0.6)]], 5) == [(1, 30, np.float32(0.6))]
    assert merged([[(30, 0.5)], [(30, 0.5)]], 5) == [(0, 30, 0.5)]


def test_blocked_rows_and_padding_are_skipped_without_costing_a_round():
    a = [(10, 0.9), (11, 0.8), (-1, 0.0)]
    b = [(20, 0.7), (21, 0.6)]
    picks = merged([a, b], 10, blocked=(10, 20))
    assert [(seed, row) for seed, row, _ in picks] == [(0, 11), (1, 21)]


def test_k_cuts_the_last_round_by_score_and_empty_input_gives_nothing():
    a = [(10, 0.2), (11, 0.1)]
    b = [(20, 0.9), (21, 0.8)]
    assert [row for _, row, _ in merged([a, b], 3)] == [20, 10, 21]
    assert merged([[], []], 3) == []
    assert merged([], 3) == []


def reference(lists, k, blocked):
    """The rule as written in service/merge.py, in plain Python: (seed, position) picks."""
    entries = []  # (seed, position, row, score, rank among the seed's unblocked entries)
    for seed, (rows, scores) in enumerate(lists):
        rank = 0
        for position, (row, score) in enumerate(zip(rows.tolist(), scores.tolist(), strict=True)):
            if row >= 0 and row not in blocked:
                entries.append((seed, position, row, score, rank))
                rank += 1
    best = {}
    for e in entries:
        key = (e[4], -e[3], e[0])
        if e[2] not in best or key < best[e[2]][0]:
            best[e[2]] = (key, e)
    credited = sorted((e for _, e in best.values()), key=lambda e: (e[0], e[1]))
    rounds, seen = [], {}
    for e in credited:
        rounds.append((seen.get(e[0], 0), -e[3], e[0], e[1]))
        seen[e[0]] = seen.get(e[0], 0) + 1
    return [(seed, position) for _, _, seed, position in sorted(rounds)[:k]]


def test_the_compiled_rule_agrees_with_a_plain_reading_of_it_on_random_lists():
    rng = np.random.default_rng(5)
    for _ in range(600):
        lists = []
        stride = int(rng.choice([1, 1 << 20, 1 << 40]))  # rows whose low bits all agree too
        for _ in range(rng.integers(1, 6)):
            n = int(rng.integers(0, 30))
            rows = rng.choice(40, n, replace=False).astype(np.int64) * stride
            rows[rng.random(n) < 0.1] = -1
            scores = np.round(rng.random(n), 1).astype(np.float32)  # ties happen
            lists.append((rows, np.sort(scores)[::-1].copy()))
        blocked = set((rng.choice(40, 5) * stride).tolist())
        k = int(rng.integers(1, 60))
        seeds, positions = fair_merge(lists, k, blocked)
        assert list(zip(seeds.tolist(), positions.tolist(), strict=True)) == reference(
            lists, k, blocked
        )
