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
    ``item_category``: each item's category code (-1: none), categories in code order. Scores
    are rounded to 3 decimals (they were JSON numbers once; answers show them). Ranked on
    arrays, no tuple per entry (an id string each, for the writer). The Spark engine
    (trainer/prepare/spark.py) scores in the cluster and ranks here."""
    order = np.lexsort((np.arange(len(score)), -score))
    order = order[score[order] > 0]
    rounded = np.round(np.asarray(score, np.float64), 3)
    overall = order[: config.top_overall]

    category = item_category[order]
    ranked = order[category >= 0]
    category = category[category >= 0]
    by_cat = np.argsort(category, kind="stable")  # stable: keeps the score order inside
    ranked, category = ranked[by_cat], category[by_cat]
    starts = np.flatnonzero(np.r_[True, category[1:] != category[:-1]])[: len(category)]
    ends = np.r_[starts[1:], len(category)][: len(starts)]
    lengths = np.minimum(ends - starts, config.top_per_category)
    offsets = np.zeros(len(starts) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # entry j of list c is ranked[starts[c] + j]: positions by list, then by rank inside it
    within = np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths)
    kept = ranked[np.repeat(starts, lengths) + within]
    return Popular.from_codes(
        item_ids,
        overall,
        rounded[overall],
        np.asarray(category_ids, dtype=object)[category[starts]],
        offsets,
        kept,
        rounded[kept],
    )
