"""The cold-start fallback: the most popular items overall and within each category.

Popularity is the sum of per-interaction weights over the training events (a purchase says more
than a view), counted on every event in the window — bounces included, since a short visit is
still a visit.
"""

from __future__ import annotations

import numpy as np

from contracts.interactions import Interaction
from contracts.popular import Popular
from trainer.config import PopularConfig
from trainer.events import EventLog
from trainer.vocab import item_categories


def popular_items(log: EventLog, config: PopularConfig) -> Popular:
    """Rank the log's items by weighted interaction counts, overall and per category."""
    weights = np.array([config.weights.get(i.label, 0.0) for i in Interaction])
    score = np.bincount(log.item, weights=weights[log.interaction], minlength=len(log.item_ids))
    return rank_popular(score, item_categories(log), log.item_ids, log.category_ids, config)


def rank_popular(
    score: np.ndarray,
    item_category: np.ndarray,
    item_ids: np.ndarray,
    category_ids: np.ndarray,
    config: PopularConfig,
) -> Popular:
    """The items with a positive ``score`` (one per log item code), best first, ties by code;
    ``item_category``: each item's category code (-1: none). The Spark engine
    (trainer/prepare/spark.py) scores in the cluster and ranks here."""
    order = np.lexsort((np.arange(len(score)), -score))
    order = order[score[order] > 0]
    overall = [(str(item_ids[i]), round(float(score[i]), 3)) for i in order[: config.top_overall]]

    category = item_category[order]
    ranked = order[category >= 0]
    category = category[category >= 0]
    if not len(category):  # a log without categories (RetailRocket's events.csv)
        return Popular(overall=overall, by_category={})
    by_cat = np.argsort(category, kind="stable")  # stable: keeps the score order inside
    ranked, category = ranked[by_cat], category[by_cat]
    starts = np.flatnonzero(np.r_[True, category[1:] != category[:-1]])
    ends = np.r_[starts[1:], len(category)]
    by_category = {
        str(category_ids[category[a]]): [
            (str(item_ids[i]), round(float(score[i]), 3))
            for i in ranked[a : min(b, a + config.top_per_category)]
        ]
        for a, b in zip(starts, ends, strict=True)
    }
    return Popular(overall=overall, by_category=by_category)
