"""The co-purchase baseline (the paper's production candidate set, after Amazon's item-to-item).

Each item is a sparse vector over items: ``C[a, b]`` counts the times one user bought ``a`` and
``b`` within ``window`` seconds of each other (a ≠ b, each pair of purchase events once, both
directions), and ``C[a, a]`` counts the purchases of ``a``. The diagonal is what makes two items
bought together once similar: without it their vectors {b: 1} and {a: 1} would be orthogonal.
Candidates of ``a`` are the items ``b`` with the highest cosine of rows a and b (> 0), best
first. Items never bought (or bought alone, by nobody else's vector) get no or few candidates:
the paper's point about co-purchase coverage.

Everything is numpy on coordinate lists: the product ``C·Cᵀ`` is formed by grouping the
non-zeros by column and pairing the rows of each group, which costs Σ over items of their
co-purchase degree squared — small, since co-purchases are rare.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contracts.interactions import Interaction
from trainer.evaluation.arrays import ramp
from trainer.evaluation.generators import RankedListGenerator

PURCHASE = int(Interaction.PURCHASE)


@dataclass(frozen=True)
class SparseCounts:
    """A symmetric sparse matrix as coordinates, sorted by (row, col), no duplicates."""

    row: np.ndarray  # int64
    col: np.ndarray  # int64
    value: np.ndarray  # float64


def copurchase_counts(
    user: np.ndarray, item: np.ndarray, timestamp: np.ndarray, window: float
) -> SparseCounts:
    """``C`` of the purchase events given (already filtered to purchases)."""
    user = np.asarray(user, np.int64)
    item = np.asarray(item, np.int64)
    ts = np.asarray(timestamp, np.int64)
    order = np.lexsort((ts, user))
    user, item, ts = user[order], item[order], ts[order]
    if len(ts) == 0:
        return _sum_duplicates(user, item, np.zeros(0))
    span = int(ts.max() - ts.min()) + 1
    horizon = int(min(window, span))
    key = user * (span + horizon + 1) + (ts - ts.min())
    last = np.searchsorted(key, key + horizon, side="right")  # past the last partner in window
    n_after = last - np.arange(len(key)) - 1
    left = np.repeat(np.arange(len(key)), n_after)
    right = left + 1 + ramp(n_after)
    a, b = item[left], item[right]
    off = a != b
    rows = np.r_[a[off], b[off], item]
    cols = np.r_[b[off], a[off], item]
    return _sum_duplicates(rows, cols, np.ones(len(rows)))


def cosine_top_k(counts: SparseCounts, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query items, (n, k) neighbour items -1 padded, (n, k) cosines) of every row of C."""
    by_col = np.lexsort((counts.row, counts.col))
    row, col, val = counts.row[by_col], counts.col[by_col], counts.value[by_col]
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]]) if len(col) else np.zeros(0, int)
    sizes = np.diff(np.r_[starts, len(col)])
    per_entry = np.repeat(sizes, sizes)
    group_start = np.repeat(starts, sizes)
    left = np.repeat(np.arange(len(col)), per_entry)
    right = np.repeat(group_start, per_entry) + ramp(per_entry)
    keep = row[left] != row[right]
    dots = _sum_duplicates(row[left][keep], row[right][keep], (val[left] * val[right])[keep])

    queries = np.unique(counts.row)
    norm = np.zeros(int(queries.max()) + 1 if len(queries) else 0)
    np.add.at(norm, counts.row, counts.value**2)
    norm = np.sqrt(norm)
    cosine = dots.value / (norm[dots.row] * norm[dots.col])
    order = np.lexsort((dots.col, -cosine, dots.row))
    a, b, cosine = dots.row[order], dots.col[order], cosine[order]
    pos = np.searchsorted(queries, a)
    first = np.searchsorted(a, queries)
    rank = np.arange(len(a)) - first[pos]
    keep = rank < k
    items = np.full((len(queries), k), -1, dtype=np.int64)
    scores = np.zeros((len(queries), k))
    items[pos[keep], rank[keep]] = b[keep]
    scores[pos[keep], rank[keep]] = cosine[keep]
    return queries, items, scores


def copurchase_generator(
    user: np.ndarray,
    item: np.ndarray,
    interaction: np.ndarray,
    timestamp: np.ndarray,
    window: float,
    n_items: int,
    k: int,
) -> RankedListGenerator:
    """The co-purchase candidate generator of a log's purchases (any events may be passed)."""
    bought = np.asarray(interaction) == PURCHASE
    counts = copurchase_counts(user[bought], item[bought], timestamp[bought], window)
    queries, neighbours, _ = cosine_top_k(counts, k)
    group = np.full(n_items, -1, dtype=np.int64)
    group[queries] = np.arange(len(queries))
    ranked = neighbours if len(queries) else np.full((1, k), -1, dtype=np.int64)
    return RankedListGenerator(ranked, group)


def _sum_duplicates(row: np.ndarray, col: np.ndarray, value: np.ndarray) -> SparseCounts:
    if len(row) == 0:
        empty = np.zeros(0, np.int64)
        return SparseCounts(empty, empty, np.zeros(0))
    width = int(max(row.max(), col.max())) + 1
    keys, inverse = np.unique(row * width + col, return_inverse=True)
    sums = np.bincount(inverse, weights=value)
    return SparseCounts(keys // width, keys % width, sums)
