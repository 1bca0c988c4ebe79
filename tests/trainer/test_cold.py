"""Cold items' category vectors (trainer/cold.py), checked by hand."""

from __future__ import annotations

import numpy as np

from trainer.cold import category_means, prefer_tokens


def test_a_categorys_mean_is_the_mean_of_its_unit_rows_and_rows_without_one_are_skipped():
    vectors = np.array([[2.0, 0.0], [0.0, 3.0], [0.0, -1.0], [5.0, 5.0]], np.float32)
    categories, means = category_means(vectors, np.array([1, 1, 3, -1]), n_categories=4)
    assert categories.tolist() == [1, 3]
    np.testing.assert_allclose(means, [[0.5, 0.5], [0.0, -1.0]])
    assert means.dtype == np.float32


def test_a_category_token_replaces_its_mean_and_the_others_keep_theirs():
    means = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], np.float32)
    tokens = np.array([[0.2, 0.3], [0.7, 0.1]], np.float32)
    categories, vectors = prefer_tokens(np.array([0, 2, 5]), means, np.array([2, 7]), tokens)
    assert categories.tolist() == [0, 2, 5, 7]  # 7 has a token but no viewed item: kept
    np.testing.assert_array_equal(vectors, [means[0], tokens[0], means[2], tokens[1]])
