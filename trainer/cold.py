"""Cold items: a vector for an item the model has never seen, from its category (issue 6).

Etsy's one-of-a-kind listings and the paper's coverage table: most items of a marketplace are
new or rare, and an item without a vector can be neither a seed nor found. An unseen item whose
category is known is searched with the mean of the unit view vectors of its category's items
(Airbnb does the same for new listings from similar listings). The evaluation measures it
(docs/evaluation.md "Cold items"); a version publishes the vectors (``cold/``) and ``cold>view``
and ``cold>cart`` tables, which the service uses for a seed it does not know.
"""

from __future__ import annotations

import numpy as np

from contracts.search import unit_rows


def category_means(
    vectors: np.ndarray, row_category: np.ndarray, n_categories: int
) -> tuple[np.ndarray, np.ndarray]:
    """(categories with a vector, float32 vector of each): the mean unit row per category.

    ``row_category`` is the category code of each row of ``vectors`` (-1: none, skipped).
    """
    known = row_category >= 0
    sums = np.zeros((n_categories, vectors.shape[1]), np.float64)
    np.add.at(sums, row_category[known], unit_rows(np.asarray(vectors)[known]))
    counts = np.bincount(row_category[known], minlength=n_categories)
    categories = np.flatnonzero(counts > 0)
    return categories, (sums[categories] / counts[categories, None]).astype(np.float32)
