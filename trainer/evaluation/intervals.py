"""95 % percentile-bootstrap intervals of hit rates, resampling the distinct test pairs.

A hit rate is a mean of per-pair values h_p (``metrics.py``). Its interval redraws the distinct
test pairs with replacement ``SAMPLES`` times. Each resample is a row of counts, how often each
pair was drawn. So the rates of one model on every resample, for every target and K, come from
a single product of the (B × n_pairs) count matrix with the model's (n_pairs × columns) per-pair
matrix (one BLAS call), with no loop over resamples. The 2.5th and 97.5th percentiles of those
rates are the interval.

The resamples are drawn once per test set (``TestPairs.bootstrap``) from a fixed seed, and every
generator scored on that set reuses them. Reports are therefore reproducible, the intervals of
two models are comparable, and the difference of two models on the same resamples is a paired
bootstrap of their difference (``results.GensimCheck``).

A rate over a subset of the pairs (a target's pairs with a non-empty H, the pairs seen in
training) is, on each resample, the count-weighted mean over that subset's drawn pairs. The
number of such pairs then varies from resample to resample, as it would from one test day to
the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLES = 1000  # resamples: the 2.5 % tails then rest on 25 draws each
SEED = 20171203  # fixed, so a report's intervals are the same on every run of the same data
LEVEL = 0.95
_ROWS = 100  # resamples drawn at once (bounds the int64 index buffer at 100 × n_pairs)


@dataclass(frozen=True, eq=False)
class Bootstrap:
    """Resamples of n_pairs test pairs: ``counts[b, p]`` = times pair p is drawn in resample b."""

    counts: np.ndarray  # float32 (samples, n_pairs); each row sums to n_pairs

    @classmethod
    def draw(cls, n_pairs: int, samples: int = SAMPLES, seed: int = SEED) -> Bootstrap:
        """``samples`` multinomial resamples of ``n_pairs`` pairs, each pair equally likely."""
        rng = np.random.default_rng(seed)
        counts = np.zeros((samples, n_pairs), np.float32)
        for start in range(0, samples if n_pairs else 0, _ROWS):
            rows = min(_ROWS, samples - start)
            drawn = rng.integers(0, n_pairs, size=(rows, n_pairs))
            drawn += np.arange(rows)[:, None] * n_pairs
            counts[start : start + rows] = np.bincount(
                drawn.ravel(), minlength=rows * n_pairs
            ).reshape(rows, n_pairs)
        counts.setflags(write=False)
        return cls(counts)

    @property
    def samples(self) -> int:
        return int(self.counts.shape[0])

    def means(self, values: np.ndarray, domain: np.ndarray) -> np.ndarray:
        """(samples, m) resampled means of each column of ``values`` (n_pairs, m), column j
        over the pairs where ``domain[:, j]`` holds; NaN where a resample drew none of them."""
        values = np.asarray(values, np.float32)
        inside = np.broadcast_to(np.asarray(domain, bool), values.shape).astype(np.float32)
        m = values.shape[1]
        sums = self.counts @ np.hstack([values * inside, inside])
        with np.errstate(invalid="ignore", divide="ignore"):
            return (sums[:, :m] / sums[:, m:]).astype(np.float64)


def percentile_interval(replicates: np.ndarray, level: float = LEVEL) -> np.ndarray:
    """(2, m): the lower and upper ``level`` percentile bounds of each column of (B, m)
    ``replicates``. Resamples that are NaN are left out; a column with no finite value is 0."""
    replicates = np.asarray(replicates, np.float64)
    tails = [50 * (1 - level), 50 * (1 + level)]
    out = np.zeros((2, replicates.shape[1]))
    finite = ~np.isnan(replicates)
    whole = finite.all(axis=0)
    if whole.any():
        out[:, whole] = np.percentile(replicates[:, whole], tails, axis=0)
    for j in np.flatnonzero(~whole & finite.any(axis=0)):
        out[:, j] = np.percentile(replicates[finite[:, j], j], tails)
    return out
