"""The paper's hit rate (section 4.3.1, eq. 3) and coverage (Table 2), vectorised.

For a target interaction i and a distinct test pair p = (ℓ, x):

    H_p^i = {(ℓ', q)}:  q = Σ over test sessions S containing p of the number of positions
                         *after p's first position in S* holding (ℓ', i), for ℓ' ≠ ℓ
    h_p^i = Σ q·1{ℓ' ∈ C_p} / Σ q          C_p = p's candidate set (the model's top K items)
    h^i   = mean of h_p^i over the distinct test pairs whose H_p^i is not empty

Readings chosen where the paper is loose (docs/evaluation.md says why):

* **after p**: the paper's own example ("all items purchased … after item ℓ was viewed"); a
  candidate set predicts what comes next, and what came before is history, not a prediction.
  Positions after p's *first* occurrence count, so a session counts once per pair.
* **the item of p never counts** in H (and no generator returns it): recommending the seed back
  is not candidate generation, and the service never does it.
* **multiplicity**: q counts repeated occurrences (an item viewed three times after p weighs 3),
  except that consecutive repeats were already collapsed by sessionization.
* **pairs a model cannot answer** (no vector, no co-purchase) have an empty C_p and score 0, so
  the average is over the same pairs for every model and coverage is priced in.

Every rate comes with a 95 % bootstrap interval over the test pairs (``intervals.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from contracts.interactions import N_INTERACTIONS, Interaction
from trainer.evaluation.arrays import ramp
from trainer.evaluation.generators import Candidates
from trainer.evaluation.intervals import Bootstrap, percentile_interval
from trainer.sessions import Sessions

TARGETS: tuple[Interaction, ...] = (Interaction.VIEW, Interaction.CART, Interaction.PURCHASE)
KS: tuple[int, ...] = (10, 25, 50, 100, 200)
_RANK_CHUNK = 1 << 16  # H entries compared against their candidate rows at once


@dataclass(frozen=True)
class TestPairs:
    """The distinct (item, interaction) pairs of the test sessions, each with its H entries."""

    __test__ = False  # a data class, not a pytest test class despite its name
    item: np.ndarray  # int64 item code of each distinct test pair
    interaction: np.ndarray  # int8
    h_pair: np.ndarray  # int64: the pair (index into item) each H entry belongs to
    h_item: np.ndarray  # int64 ℓ'
    h_interaction: np.ndarray  # int8 i
    h_count: np.ndarray  # int64 q, summed over test sessions
    event_item: np.ndarray  # int64 item of every test-session event (for traffic coverage)

    def __len__(self) -> int:
        return len(self.item)

    @property
    def n_items(self) -> int:
        """Distinct items among the pairs: the queries a generator answers."""
        return len(np.unique(self.item))

    def sample_items(self, max_items: int, seed: int) -> TestPairs:
        """The pairs of at most ``max_items`` of their items, drawn uniformly with ``seed``
        (all of them when there are no more). Whole items are kept, with all their pairs and H
        entries, so each pair's hit rate is unchanged and the mean over the sample estimates
        the mean over all pairs without bias; the queries, hence the cost of scoring, stop
        growing with the log."""
        items = np.unique(self.item)
        if len(items) <= max_items:
            return self
        chosen = np.random.default_rng(seed).choice(items, max_items, replace=False)
        keep = np.isin(self.item, chosen)
        new_index = np.cumsum(keep) - 1
        h_keep = keep[self.h_pair]
        return TestPairs(
            item=self.item[keep],
            interaction=self.interaction[keep],
            h_pair=new_index[self.h_pair[h_keep]],
            h_item=self.h_item[h_keep],
            h_interaction=self.h_interaction[h_keep],
            h_count=self.h_count[h_keep],
            event_item=self.event_item[np.isin(self.event_item, chosen)],
        )

    @cached_property
    def bootstrap(self) -> Bootstrap:
        """The resamples of these pairs that every model scored on them shares."""
        return Bootstrap.draw(len(self))


@dataclass(frozen=True)
class HitRates:
    """Mean hit rate per target label and K, its 95 % bootstrap interval, and how many pairs
    each mean is over."""

    hit_rate: dict[str, dict[int, float]]
    pairs: dict[str, int]
    pairs_hit: dict[str, int]  # pairs with at least one hit at the largest K: the evidence
    interval: dict[str, dict[int, tuple[float, float]]] = field(default_factory=dict)
    # target → (resamples, K) the rate on each bootstrap resample, K in hit_rate's order: two
    # models' replicates on the same test pairs are paired (results.GensimCheck)
    resampled: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def on_resamples(self, target: str, k: int) -> np.ndarray:
        """The rate at ``k`` on each bootstrap resample of the test pairs."""
        return self.resampled[target][:, list(self.hit_rate[target]).index(k)]


@dataclass(frozen=True)
class PairHits:
    """h_p of every distinct test pair at each K, per target: what a hit rate is the mean of."""

    ks: tuple[int, ...]
    h: dict[str, np.ndarray]  # target → float64 (n_pairs, len(ks)); 0 where H is empty
    has: dict[str, np.ndarray]  # target → bool (n_pairs,): H is not empty

    def rates(self, bootstrap: Bootstrap | None = None, mask: np.ndarray | None = None) -> HitRates:
        """The mean of h_p over the pairs with a non-empty H (and ``mask``, bool per pair), at
        each K; with ``bootstrap`` also its 95 % interval over those resamples of the pairs."""
        rates: dict[str, dict[int, float]] = {}
        counts: dict[str, int] = {}
        hit_counts: dict[str, int] = {}
        top = self.ks.index(max(self.ks)) if self.ks else None
        for target, h in self.h.items():
            use = self.has[target] if mask is None else self.has[target] & np.asarray(mask, bool)
            counts[target] = int(use.sum())
            mean = h[use].mean(axis=0) if use.any() else np.zeros(len(self.ks))
            rates[target] = {k: float(v) for k, v in zip(self.ks, mean, strict=True)}
            hit_counts[target] = 0 if top is None else int((h[use, top] > 0).sum())
        if bootstrap is None or not self.h:
            return HitRates(rates, counts, hit_counts)
        targets = list(self.h)
        use = np.column_stack([self.has[t] for t in targets])
        if mask is not None:
            use &= np.asarray(mask, bool)[:, None]
        width = len(self.ks)
        replicates = bootstrap.means(
            np.hstack([self.h[t] for t in targets]), np.repeat(use, width, axis=1)
        )
        bounds = percentile_interval(replicates)
        resampled, interval = {}, {}
        for j, target in enumerate(targets):
            columns = slice(j * width, (j + 1) * width)
            resampled[target] = replicates[:, columns]
            lo, hi = bounds[:, columns]
            interval[target] = {
                k: (float(a), float(b)) for k, a, b in zip(self.ks, lo, hi, strict=True)
            }
        return HitRates(rates, counts, hit_counts, interval, resampled)


@dataclass(frozen=True)
class Coverage:
    """Share of distinct test items with a non-empty candidate set, and of test events on them."""

    items: float
    traffic: float


def build_test_pairs(sessions: Sessions) -> TestPairs:
    """Every distinct test pair and its H entries for every interaction (see module doc)."""
    item = sessions.item.astype(np.int64)
    inter = sessions.interaction.astype(np.int64)
    session = np.repeat(np.arange(len(sessions), dtype=np.int64), sessions.lengths)
    keys, pair_of_position = np.unique(item * N_INTERACTIONS + inter, return_inverse=True)
    _, first = np.unique(session * max(len(keys), 1) + pair_of_position, return_index=True)
    n_after = sessions.offsets[session[first] + 1] - first - 1
    left = np.repeat(first, n_after)
    right = left + 1 + ramp(n_after)
    other = item[right] != item[left]
    left, right = left[other], right[other]
    width = int(item.max()) + 1 if len(item) else 1
    h_key = (pair_of_position[left] * width + item[right]) * N_INTERACTIONS + inter[right]
    h_unique, h_count = np.unique(h_key, return_counts=True)
    return TestPairs(
        item=keys // N_INTERACTIONS,
        interaction=(keys % N_INTERACTIONS).astype(np.int8),
        h_pair=h_unique // N_INTERACTIONS // width,
        h_item=h_unique // N_INTERACTIONS % width,
        h_interaction=(h_unique % N_INTERACTIONS).astype(np.int8),
        h_count=h_count.astype(np.int64),
        event_item=item,
    )


def hit_rates(
    pairs: TestPairs,
    candidates: Candidates,
    ks: Sequence[int] = KS,
    targets: Sequence[Interaction] = TARGETS,
    mask: np.ndarray | None = None,
) -> HitRates:
    """h^i at each K for each target, with its interval over ``pairs.bootstrap``; ``mask``
    (bool per pair) restricts the pairs averaged.

    ``candidates`` must answer the pairs' items with lists of at least ``max(ks)``; an item it
    was not asked about counts as unanswered.
    """
    return pair_hits(pairs, candidates, ks, targets).rates(pairs.bootstrap, mask)


def pair_hits(
    pairs: TestPairs,
    candidates: Candidates,
    ks: Sequence[int] = KS,
    targets: Sequence[Interaction] = TARGETS,
) -> PairHits:
    """h_p^i of every distinct test pair at each K for each target (see module doc)."""
    if ks and max(ks) > candidates.k:
        raise ValueError(
            f"K up to {max(ks)} needs candidate lists of that length, not {candidates.k}"
        )
    n = len(pairs)
    ranks = _ranks(pairs, candidates)
    h: dict[str, np.ndarray] = {}
    has: dict[str, np.ndarray] = {}
    for target in targets:
        sel = pairs.h_interaction == int(target)
        pair, q, rank = pairs.h_pair[sel], pairs.h_count[sel].astype(np.float64), ranks[sel]
        total = np.bincount(pair, weights=q, minlength=n)
        has[target.label] = total > 0
        safe = np.where(total > 0, total, 1.0)
        h[target.label] = np.zeros((n, len(ks)))
        for j, k in enumerate(ks):
            h[target.label][:, j] = np.bincount(pair, weights=q * (rank < k), minlength=n) / safe
    return PairHits(tuple(ks), h, has)


def coverage(pairs: TestPairs, candidates: Candidates) -> Coverage:
    """Table 2: distinct test items, and test events, whose item has a non-empty candidate set."""
    items, events = np.unique(pairs.event_item, return_counts=True)
    if len(items) == 0:
        return Coverage(0.0, 0.0)
    rows = candidates.rows_of(items)
    answered = np.zeros(len(items), dtype=bool)
    answered[rows >= 0] = candidates.answered()[rows[rows >= 0]]
    return Coverage(float(answered.mean()), float(events[answered].sum() / events.sum()))


def _ranks(pairs: TestPairs, candidates: Candidates) -> np.ndarray:
    """Rank of each H entry's item in its pair's candidate list; ``candidates.k`` if absent."""
    rows = candidates.rows_of(pairs.item)[pairs.h_pair]
    ranks = np.full(len(rows), candidates.k, dtype=np.int64)
    for start in range(0, len(rows), _RANK_CHUNK):
        chunk = slice(start, start + _RANK_CHUNK)
        r = rows[chunk]
        known = r >= 0
        if not known.any() or candidates.k == 0:
            continue
        lists = candidates.items[r[known]]
        match = lists == pairs.h_item[chunk][known][:, None]
        found = match.any(axis=1)
        local = np.where(found, match.argmax(axis=1), candidates.k)
        ranks[np.flatnonzero(known) + start] = local
    return ranks
