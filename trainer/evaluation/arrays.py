"""Small vectorised helpers shared by the evaluation's numpy code."""

from __future__ import annotations

import numpy as np


def ramp(sizes: np.ndarray) -> np.ndarray:
    """``0, 1, …, s−1`` for each ``s`` in ``sizes``, concatenated (int64).

    With ``np.repeat`` it enumerates variable-length groups without a Python loop: e.g. every
    later position of a session, or every pair of rows sharing a column.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    total = int(sizes.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
