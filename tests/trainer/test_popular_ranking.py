"""rank_popular on arrays ranks exactly as the per-entry Python ranking it replaced did."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.config import PopularConfig
from trainer.popular import rank_popular


def reference(score, item_category, item_ids, category_ids, config):
    """The ranking as trainer/popular.py wrote it before the arrays: a tuple per entry. (It
    rounded with Python's ``round``, numpy's rounds a score halfway at the 4th decimal the
    other way at times: 11.3295 → 11.33 against 11.329, both 3 decimals.)"""
    order = [i for i in np.lexsort((np.arange(len(score)), -score)) if score[i] > 0]
    entry = lambda i: (str(item_ids[i]), float(np.round(score[i], 3)))  # noqa: E731
    by_category: dict[str, list[tuple[str, float]]] = {}
    for i in sorted(order, key=lambda i: item_category[i]):  # stable: score order inside
        if item_category[i] >= 0:
            ranked = by_category.setdefault(str(category_ids[item_category[i]]), [])
            if len(ranked) < config.top_per_category:
                ranked.append(entry(i))
    return [entry(i) for i in order[: config.top_overall]], by_category


@pytest.mark.parametrize("seed", range(5))
def test_the_lists_are_those_of_the_per_entry_ranking(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    score = np.round(rng.exponential(3, n) * (rng.random(n) > 0.2), int(rng.integers(0, 5)))
    category = rng.integers(-1, 12, n)
    item_ids = np.array([f"i{k}" for k in rng.permutation(n)], dtype=object)
    category_ids = np.array([f"c{k}" for k in range(12)], dtype=object)
    config = PopularConfig(top_overall=int(rng.integers(1, 50)), top_per_category=7)
    popular = rank_popular(score, category, item_ids, category_ids, config)
    assert popular.to_lists() == reference(score, category, item_ids, category_ids, config)


def test_a_log_without_categories_has_overall_lists_only():
    score = np.array([0.0, 2.0, 1.0])
    ids = np.array(["a", "b", "c"], dtype=object)
    popular = rank_popular(score, np.full(3, -1), ids, np.array([], object), PopularConfig())
    assert popular.to_lists() == ([("b", 2.0), ("c", 1.0)], {})
