"""Exact top-k search for the evaluation: BLAS scores, then a parallel selection in numba.

``contracts.search.ExactSearch`` is the project's reference brute force, and this class gives
the same answers, ties ranked lower row first (``tests/trainer/test_evaluation_generators.py``
checks it against it). It exists because evaluation asks tens of thousands of queries against
every model, several times over (matrix, dimension sweep, ablations), and
``np.argpartition`` over each whole score row is the bottleneck there. This selection reads
each score once against a threshold guessed from a sample, sorts the ~2k survivors, and runs
rows in parallel: 2–3× faster on 2 cores, with no negated copy of the score matrix.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from contracts.manifest import Space
from contracts.search import unit_rows

_BATCH_CELLS = 1 << 24  # scores materialised per matrix product (64 MiB of float32)


class TopKSearch:
    """Exact k-nearest rows by cosine or inner product; labels are row numbers 0..n-1."""

    def __init__(self, vectors: npt.ArrayLike, space: Space) -> None:
        data = np.ascontiguousarray(vectors, dtype=np.float32)
        if data.ndim != 2:
            raise ValueError(f"vectors must be (n, dim), got {data.shape}")
        self._space = space
        self._vectors = unit_rows(data) if space == "cosine" else data

    @property
    def dim(self) -> int:
        return int(self._vectors.shape[1])

    @property
    def space(self) -> Space:
        return self._space

    def __len__(self) -> int:
        return len(self._vectors)

    def query(self, vectors: npt.ArrayLike, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(labels int64 (n, k'), scores float32 (n, k')), best first, k' = min(k, len)."""
        queries = np.ascontiguousarray(vectors, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must be (n, {self.dim}), got {queries.shape}")
        kk = min(max(k, 0), len(self))
        labels = np.empty((len(queries), kk), dtype=np.int64)
        scores = np.empty((len(queries), kk), dtype=np.float32)
        if kk == 0 or len(queries) == 0:
            return labels, scores
        if self._space == "cosine":
            queries = unit_rows(queries)
        rows = max(1, _BATCH_CELLS // len(self))
        for start in range(0, len(queries), rows):
            sims = queries[start : start + rows] @ self._vectors.T
            _select(sims, kk, labels[start : start + rows], scores[start : start + rows])
        return labels, scores


@njit(parallel=True, cache=True)
def _select(sims, k, labels, scores):  # pragma: no cover - compiled
    """Per row, the k largest scores, best first; equal scores keep the lower row first."""
    n = sims.shape[1]
    for r in prange(sims.shape[0]):
        row = sims[r]
        order = _above_threshold(row, k) if n > 4 * k else np.empty(0, np.int64)
        if order.shape[0] < k:
            order = np.argsort(-row, kind="mergesort")[:k]
        labels[r] = order
        scores[r] = row[order]


@njit(cache=True)
def _above_threshold(row, k):  # pragma: no cover - compiled
    """The top k of ``row`` via a threshold guessed from a strided sample; empty if it missed.

    The threshold is the score a sample of ~8k places about 2k rows above; one pass collects
    every row at or above it, and a stable sort of those (~2k) ranks them. If fewer than k or
    more than 8k rows pass (ties, odd distributions) the caller sorts the whole row instead, so
    the answer is always exact.
    """
    n = row.shape[0]
    sample = row[:: max(1, n // (8 * k))].copy()
    m = sample.shape[0]
    want = min(m, (2 * k * m) // n + 1)
    threshold = np.partition(sample, m - want)[m - want]
    cap = 8 * k
    picked = np.empty(cap, dtype=np.int64)
    count = 0
    for j in range(n):
        if row[j] >= threshold:
            if count == cap:
                return np.empty(0, np.int64)
            picked[count] = j
            count += 1
    if count < k:
        return np.empty(0, np.int64)
    picked = picked[:count]
    return picked[np.argsort(-row[picked], kind="mergesort")[:k]]
