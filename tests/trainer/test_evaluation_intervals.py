"""Bootstrap intervals of hit rates and the gensim check, on per-pair values made by hand.

A hit rate is the mean of per-pair values h_p (metrics.PairHits); its interval resamples the
distinct test pairs (intervals.Bootstrap). Here h_p is written directly, so the right interval
is known: zero width for a constant, about ±1.96·σ/√n for a large sample.
"""

from __future__ import annotations

import numpy as np
import pytest

from contracts.interactions import Interaction
from trainer.evaluation.generators import Candidates
from trainer.evaluation.intervals import Bootstrap, percentile_interval
from trainer.evaluation.metrics import Coverage, HitRates, PairHits, build_test_pairs, hit_rates
from trainer.evaluation.results import GensimCheck, ModelResult, paired_differences
from trainer.sessions import Sessions

K = 200
V, P = int(Interaction.VIEW), int(Interaction.PURCHASE)


def hits(values: np.ndarray, has: np.ndarray | None = None, ks: tuple[int, ...] = (K,)) -> PairHits:
    """PairHits of purchase values (one column per K, the same values at every K)."""
    values = np.asarray(values, np.float64)
    h = np.repeat(values[:, None], len(ks), axis=1)
    return PairHits(
        ks, {"purchase": h}, {"purchase": np.ones(len(values), bool) if has is None else has}
    )


def rates(values: np.ndarray, bootstrap: Bootstrap, **kw) -> HitRates:
    return hits(values, **kw).rates(bootstrap)


def bernoulli(n: int, p: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < p).astype(np.float64)


def test_the_interval_of_a_constant_h_has_zero_width_and_equals_it():
    n = 500
    result = rates(np.full(n, 0.25), Bootstrap.draw(n), ks=(10, K))
    assert result.hit_rate["purchase"] == {10: 0.25, K: 0.25}
    assert result.interval["purchase"] == {10: (0.25, 0.25), K: (0.25, 0.25)}


def test_only_pairs_with_a_target_and_in_the_mask_are_resampled():
    values = np.r_[np.full(50, 1.0), np.full(50, 0.5), np.full(100, 0.0)]
    has = np.r_[np.ones(100, bool), np.zeros(100, bool)]  # the zeros have an empty H
    boot = Bootstrap.draw(200)
    lo, hi = rates(values, boot, has=has).interval["purchase"][K]
    assert 0.6 < lo < 0.75 < hi < 0.9  # the mean of 1.0 and 0.5, never pulled down by the zeros
    seen = np.r_[np.zeros(50, bool), np.ones(150, bool)]  # only the 0.5 pairs have a target
    masked = hits(values, has=has).rates(boot, mask=seen)
    assert masked.pairs["purchase"] == 50 and masked.interval["purchase"][K] == (0.5, 0.5)


def test_the_interval_contains_the_mean_and_narrows_as_pairs_grow():
    widths = {}
    for n in (200, 5000):
        values = bernoulli(n, 0.3, seed=n)
        result = rates(values, Bootstrap.draw(n))
        lo, hi = result.interval["purchase"][K]
        mean = result.hit_rate["purchase"][K]
        assert mean == pytest.approx(values.mean())
        assert lo < mean < hi
        normal = 2 * 1.96 * values.std() / np.sqrt(n)  # the textbook interval's width
        assert hi - lo == pytest.approx(normal, rel=0.15)
        widths[n] = hi - lo
    assert widths[5000] < widths[200] / 4  # √25 = 5 times narrower, give or take resampling


def test_the_same_seed_gives_the_same_resamples_and_intervals():
    values = bernoulli(300, 0.2, seed=1)
    a, b, other = (
        Bootstrap.draw(300, seed=7),
        Bootstrap.draw(300, seed=7),
        Bootstrap.draw(300, seed=8),
    )
    assert np.array_equal(a.counts, b.counts) and not np.array_equal(a.counts, other.counts)
    assert rates(values, a).interval == rates(values, b).interval
    assert a.counts.shape == (1000, 300) and set(a.counts.sum(axis=1)) == {300.0}


def test_resamples_that_draw_none_of_a_subset_are_left_out_and_an_empty_subset_is_zero():
    replicates = np.array([[0.1, np.nan], [np.nan, np.nan], [0.3, np.nan]])
    assert percentile_interval(replicates, level=1.0).tolist() == [[0.1, 0.0], [0.3, 0.0]]


def test_hit_rates_of_real_pairs_carry_an_interval_around_the_rate():
    rows = [
        [(0, V), (1, V), (2, V), (3, P)],
        [(0, V), (2, V), (1, V), (3, P)],
        [(1, V), (0, V), (2, V), (4, P)],
    ]  # every view pair is followed by purchases {3: 2, 4: 1}
    flat = [pair for row in rows for pair in row]
    sessions = Sessions(
        item=np.array([i for i, _ in flat], np.int32),
        interaction=np.array([x for _, x in flat], np.int8),
        offsets=np.arange(0, 13, 4, dtype=np.int64),
        user=np.zeros(3, np.int32),
        start=np.zeros(3, np.int64),
        dropped_short=0,
        row=np.arange(len(flat), dtype=np.int64),
    )
    pairs = build_test_pairs(sessions)
    lists = Candidates(np.arange(3), np.array([[3, 1], [3, 2], [4, 3]]))
    result = hit_rates(pairs, lists, ks=(1, 2))
    # h at K = 1: 2/3, 2/3, 1/3; at K = 2: 2/3, 2/3, 1
    assert result.hit_rate["purchase"] == pytest.approx({1: 5 / 9, 2: 7 / 9})
    (lo1, hi1), (lo2, hi2) = result.interval["purchase"].values()
    assert 1 / 3 <= lo1 < 5 / 9 < hi1 <= 2 / 3 + 1e-6
    assert 2 / 3 - 1e-6 <= lo2 < 7 / 9 < hi2 <= 1.0
    assert result.on_resamples("purchase", 2).shape == (1000,)
    assert pairs.bootstrap is pairs.bootstrap  # drawn once, shared by every model scored


def check(ours: list[np.ndarray], gensim: list[np.ndarray], n: int) -> GensimCheck:
    boot = Bootstrap.draw(n)
    return GensimCheck.paired([rates(v, boot) for v in ours], [rates(v, boot) for v in gensim], K)


def test_the_gensim_check_passes_when_ours_equals_gensim():
    g = bernoulli(800, 0.3, seed=2)
    result = check([g], [g], 800)
    assert result.difference_ci == (0.0, 0.0) and result.passes
    assert result.ours == result.gensim == pytest.approx(g.mean())
    assert result.pairs == 800 and result.runs == 1


def test_the_gensim_check_fails_when_ours_is_clearly_worse():
    g = bernoulli(800, 0.3, seed=3)
    worse = g.copy()
    worse[np.flatnonzero(g)[::2]] = 0.0  # half of gensim's hits lost: 30 % → 15 %
    result = check([worse], [g], 800)
    lo, hi = result.difference_ci
    assert lo < result.difference < hi < 0 and not result.passes
    assert result.difference == pytest.approx(worse.mean() - g.mean())
    assert result.to_json()["passes"] is False


def test_the_gensim_check_is_paired_so_a_small_loss_on_every_pair_fails():
    g = np.random.default_rng(4).uniform(0.2, 0.8, 800)
    result = check([g - 0.01], [g], 800)  # each side's own interval is ±2 points wide
    assert result.difference_ci == pytest.approx((-0.01, -0.01), abs=1e-6)
    assert not result.passes


def test_the_gensim_check_averages_per_pair_values_over_the_seeds_of_each_side():
    g = np.random.default_rng(5).uniform(0.2, 0.8, 800)
    noise = np.random.default_rng(6).uniform(-0.2, 0.2, 800)
    result = check([g + noise, g - noise], [g, g], 800)  # the seeds' mean is g on every pair
    assert result.difference_ci == pytest.approx((0.0, 0.0), abs=1e-6) and result.passes
    assert result.runs == 2


def test_a_better_ours_passes_and_the_interval_reaches_metrics_json():
    g = bernoulli(800, 0.2, seed=7)
    better = np.maximum(g, bernoulli(800, 0.1, seed=8))
    result = check([better], [g], 800)
    assert result.difference_ci[0] > 0 and result.passes
    entry = result.to_json()
    assert entry["difference_ci"] == [round(b, 6) for b in result.difference_ci]
    assert {"target", "k", "ours", "gensim", "relative_gap", "runs"} <= set(entry)


def test_model_results_write_their_intervals_in_metrics_json():
    boot = Bootstrap.draw(4)
    rate = rates(np.full(4, 0.5), boot, ks=(10, K))
    entry = ModelResult(rate, rate, Coverage(1.0, 1.0), 0.0).to_json()
    assert entry["hit_rate_ci"] == {"purchase": {"10": [0.5, 0.5], "200": [0.5, 0.5]}}
    assert entry["hit_rate_seen_ci"] == entry["hit_rate_ci"]


def model(values: np.ndarray, boot: Bootstrap) -> ModelResult:
    r = rates(values, boot)
    return ModelResult(r, r, Coverage(1.0, 1.0), 0.0)


def test_a_small_gain_on_every_pair_is_significant_against_the_baseline_when_paired():
    boot = Bootstrap.draw(800)
    base = np.random.default_rng(9).uniform(0.2, 0.8, 800)
    models = {"no-interaction": model(base, boot), "view-interaction": model(base + 0.01, boot)}
    own = models["view-interaction"].hit.interval["purchase"][K]
    assert own[0] < base.mean() < own[1]  # side by side, the intervals overlap
    d = paired_differences(models)["view-interaction"]["purchase"][K]
    assert d.difference == pytest.approx(0.01) and d.ci == pytest.approx((0.01, 0.01), abs=1e-6)
    assert d.significant


def test_a_model_equal_to_the_baseline_differs_by_nothing():
    boot = Bootstrap.draw(300)
    base = bernoulli(300, 0.3, seed=10)
    models = {"no-interaction": model(base, boot), "popular": model(base.copy(), boot)}
    d = paired_differences(models)["popular"]["purchase"][K]
    assert d.ci == (0.0, 0.0) and not d.significant
    assert paired_differences({"popular": models["popular"]}) == {}  # no baseline, no table
