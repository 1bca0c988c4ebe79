"""What the service serves for one seed, offline: neighbours, the blend rule, the backfill.

The service's "viewed" module for a single seed item ℓ (service/retrieval.py) is: ℓ's
neighbours from the ``view>view`` table (ℓ's view vector against the view vectors), or — when ℓ
has no view pair — from ``item>item`` (its no-interaction vector), or — when the model never saw
ℓ — from ``cold>view`` (its category's vector); each seed's neighbours scoring below the
version's blend threshold for that way and k are dropped (contracts/blend.py); then the popular
items of ℓ's category, then popular overall, up to k, never ℓ itself. ``ServedGenerator``
answers test items by exactly that rule (exact search to table depth, ``IndexConfig.table_k``;
the tables are built with HNSW at a measured recall), so the report's ``served`` line is what a
user gets.

``learn_blend`` chooses the thresholds on a validation split: for each way and each K, the
threshold (among quantiles of that way's neighbour scores, plus "keep all" and "keep none")
that maximises the mean hit rate over the targets of the validation pairs searched that way.
Ways partition the pairs, so each way's choice is independent. On a tie the higher threshold
wins: without evidence for the neighbours, the category's best sellers are served.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from contracts.blend import WAYS, BlendRule
from contracts.interactions import Interaction
from contracts.manifest import SPACES, Similarity
from trainer.cold import cold_vectors
from trainer.config import TrainConfig
from trainer.evaluation.generators import (
    Candidates,
    CategoryVectors,
    Embeddings,
    distinct_top_k,
    embeddings_of,
    popularity,
)
from trainer.evaluation.metrics import TARGETS, HitRates, TestPairs, hit_rates
from trainer.evaluation.topk import TopKSearch
from trainer.events import EventLog
from trainer.fit import Models
from trainer.sgns import SGNSResult
from trainer.vocab import item_categories

WAY_NAMES = WAYS  # way codes 0, 1, 2 (pair, item, category vector); -1: no neighbours
BLEND_KS = (10, 25, 50, 100, 200)
QUANTILES = np.linspace(0.0, 1.0, 21)[1:-1]  # interior quantiles of the top scores
_BATCH = 2048


@dataclass(frozen=True)
class SeedNeighbours:
    """Each query item's neighbours as the service finds them for a single seed."""

    query: np.ndarray  # int64 sorted distinct item codes
    way: np.ndarray  # int8 per query: index into WAY_NAMES, -1 when it has no vector
    items: np.ndarray  # int64 (n, depth) neighbour item codes, best first, never the query; -1 pad
    scores: np.ndarray  # float32 (n, depth), -inf on padding


@dataclass(frozen=True)
class Backfill:
    """The popular lists the service backfills from: per category, then overall."""

    by_category: np.ndarray  # int64 (n_categories + 1, m): row -1 (the last) is empty
    overall: np.ndarray  # int64 (m',)
    category: np.ndarray  # int64 category code per item code, -1 none


def served_path(
    models: Models,
    event_log: EventLog,
    train: EventLog,
    config: TrainConfig,
    query: np.ndarray,
    depth: int,
    items: SGNSResult | None = None,
) -> tuple[SeedNeighbours, Backfill]:
    """The inputs of the served lists of ``query`` (item codes of ``event_log``, whose catalogue
    gives the categories): each one's neighbours as a view seed, and the popular lists of the
    ``train`` events. ``items``: the item model, when ``models`` has none."""
    pair_emb, item_emb = embeddings_of(models, event_log, items)
    category = item_categories(event_log)
    neighbours = seed_neighbours(
        pair_emb, item_emb, cold_of(models, event_log, config), category, query, depth,
        config.index.similarity, int(Interaction.VIEW),
    )  # fmt: skip
    n_items = len(event_log.item_ids)
    score = popularity(train.item, train.interaction, config.popular.weights, n_items)
    backfill = backfill_lists(
        score, category, config.popular.top_per_category, config.popular.top_overall
    )
    return neighbours, backfill


def cold_of(models: Models, event_log: EventLog, config: TrainConfig) -> CategoryVectors | None:
    """The version's vector per category for unseen items (trainer/cold.py), in the log's
    category codes."""
    vocab = models.vocab
    categories, vectors = cold_vectors(vocab, models.pairs.input, config.cold.vector)
    if not len(categories):
        return None
    code = {category_id: c for c, category_id in enumerate(event_log.category_ids)}
    mapped = np.array([code[vocab.category_ids[c]] for c in categories], np.int64)
    return CategoryVectors(mapped, np.asarray(vectors, np.float32))


def backfill_lists(
    score: np.ndarray, category: np.ndarray, per_category: int, overall: int
) -> Backfill:
    """Items by ``score`` (> 0), the top ``per_category`` of each category and the top
    ``overall`` of all: popular.json's lists (trainer/popular.py), in item codes."""
    order = np.lexsort((np.arange(len(score)), -score))
    order = order[score[order] > 0]
    n_categories = int(category.max()) + 1 if len(category) and category.max() >= 0 else 0
    table = np.full((n_categories + 1, per_category), -1, np.int64)
    ranked = order[category[order] >= 0]
    cats = category[ranked]
    by_cat = np.argsort(cats, kind="stable")
    ranked, cats = ranked[by_cat], cats[by_cat]
    if len(ranked):
        starts = np.flatnonzero(np.r_[True, cats[1:] != cats[:-1]])
        rank = np.arange(len(ranked)) - np.repeat(starts, np.diff(np.r_[starts, len(ranked)]))
        keep = rank < per_category
        table[cats[keep], rank[keep]] = ranked[keep]
    return Backfill(table, order[:overall].astype(np.int64), category.astype(np.int64))


def seed_neighbours(
    pairs: Embeddings,
    items: Embeddings | None,
    cold: CategoryVectors | None,
    category: np.ndarray,
    query: np.ndarray,
    depth: int,
    similarity: Similarity,
    view: int,
) -> SeedNeighbours:
    """The neighbours of each ``query`` item code by the service's way for its seed.

    ``pairs``/``items`` are the pair and no-interaction models; ``cold`` each category's vector
    for unseen items (trainer/cold.py); ``view`` the seed interaction (the viewed module).
    """
    query = np.unique(np.asarray(query, np.int64))
    n = len(query)
    way = np.full(n, -1, np.int8)
    out_items = np.full((n, depth), -1, np.int64)
    out_scores = np.full((n, depth), -np.inf, np.float32)
    space = SPACES[similarity]
    assert pairs.interaction is not None
    view_rows = np.flatnonzero(pairs.interaction == view)
    known = np.zeros(int(max(query.max(initial=-1), pairs.item.max(initial=-1))) + 1, bool)
    known[pairs.item] = True
    seen = known[query]
    # (way, query positions, their vectors, stored vectors, stored rows' item codes)
    searches: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    row_of = _row_of(pairs.item[view_rows], view_rows, len(known))
    has_view = seen & (row_of[query] >= 0)
    stored_view, view_items = _stored(pairs, view_rows, similarity), pairs.item[view_rows]
    at = np.flatnonzero(has_view)
    searches.append((0, at, pairs.input[row_of[query[at]]], stored_view, view_items))
    if items is not None:
        all_rows = np.arange(len(items.item))
        item_row = _row_of(items.item, all_rows, len(known))
        at = np.flatnonzero(seen & ~has_view)
        at = at[item_row[query[at]] >= 0]
        stored = _stored(items, all_rows, similarity)
        searches.append((1, at, items.input[item_row[query[at]]], stored, items.item))
    if cold is not None and len(cold.category):
        inside = query < len(category)
        cat = np.where(inside, category[np.where(inside, query, 0)], -1)
        cold_row = np.full(int(max(cat.max(initial=-1), cold.category.max())) + 2, -1, np.int64)
        cold_row[cold.category] = np.arange(len(cold.category))
        at = np.flatnonzero(~seen & (cat >= 0) & (cold_row[cat] >= 0))
        searches.append((2, at, cold.vectors[cold_row[cat[at]]], stored_view, view_items))
    for code, at, vectors, stored, stored_item in searches:
        if not len(at):
            continue
        index = TopKSearch(stored, space)
        way[at] = code
        fetch = min(depth + 1, len(stored))
        for start in range(0, len(at), _BATCH):
            rows = at[start : start + _BATCH]
            labels, scores = index.query(vectors[start : start + _BATCH], fetch)
            found = stored_item[labels]
            mine = found == query[rows][:, None]
            # drop the query item, keep order: a stable sort moves it to the end
            order = np.argsort(mine, axis=1, kind="stable")[:, :depth]
            found = np.take_along_axis(found, order, axis=1)
            scores = np.take_along_axis(scores, order, axis=1).astype(np.float32)
            dropped = np.take_along_axis(mine, order, axis=1)
            found[dropped], scores[dropped] = -1, -np.inf
            out_items[rows, : found.shape[1]] = found
            out_scores[rows, : found.shape[1]] = scores
    return SeedNeighbours(query, way, out_items, out_scores)


def served_candidates(
    neighbours: SeedNeighbours, thresholds: np.ndarray, backfill: Backfill, k: int
) -> Candidates:
    """Each query's served list of ``k``: neighbours scoring ≥ its threshold, then its
    category's popular items, then popular overall; distinct, never the query item."""
    query = neighbours.query
    kept = np.where(neighbours.scores >= thresholds[:, None], neighbours.items, -1)
    inside = query < len(backfill.category)
    cat = np.where(inside, backfill.category[np.where(inside, query, 0)], -1)
    by_category = backfill.by_category[:, : k + 1][cat]  # -1 picks the empty last row
    top = backfill.overall[: k + 1]
    overall = np.broadcast_to(top, (len(query), len(top)))
    ranked = np.concatenate([kept[:, :k], by_category, overall], axis=1)
    return Candidates(query, distinct_top_k(ranked, query, k))


def thresholds_for(neighbours: SeedNeighbours, rule: BlendRule | None, k: int) -> np.ndarray:
    """Each query's threshold under ``rule`` for a module of ``k``."""
    per_way = np.array(
        [-np.inf if rule is None else rule.threshold(w, k) for w in WAY_NAMES] + [-np.inf]
    )
    return per_way[neighbours.way].astype(np.float32)


class ServedGenerator:
    """``candidates(query, k)``: what the service answers for each query item as one seed."""

    def __init__(
        self, neighbours: SeedNeighbours, backfill: Backfill, rule: BlendRule | None
    ) -> None:
        self._neighbours = neighbours
        self._backfill = backfill
        self._rule = rule

    def candidates(self, query: np.ndarray, k: int, progress: bool = False) -> Candidates:
        found = self._neighbours
        query = np.unique(np.asarray(query, np.int64))
        if not np.array_equal(query, found.query):
            raise ValueError("ServedGenerator answers the queries it was built for")
        # the threshold depends on k: a list of k is not the prefix of a longer one
        # (Scorer.score_each_k asks for each K)
        return served_candidates(found, thresholds_for(found, self._rule, k), self._backfill, k)


def learn_blend(
    neighbours: SeedNeighbours,
    backfill: Backfill,
    pairs: TestPairs,
    ks: tuple[int, ...] = BLEND_KS,
) -> BlendRule:
    """The thresholds per way and K that maximise the validation hit rate (module doc)."""
    way_of_pair = np.full(len(pairs), -1, np.int8)
    rows = np.searchsorted(neighbours.query, pairs.item)
    rows = np.minimum(rows, len(neighbours.query) - 1)
    match = neighbours.query[rows] == pairs.item
    way_of_pair[match] = neighbours.way[rows[match]]
    grid = _threshold_grid(neighbours)  # (n_options, n_ways)
    k_max = max(ks)
    objective = np.full((len(grid), len(WAY_NAMES), len(ks)), np.nan)
    for j, per_way in enumerate(grid):
        thresholds = np.r_[per_way, -np.inf][neighbours.way].astype(np.float32)
        candidates = served_candidates(neighbours, thresholds, backfill, k_max)
        for w in range(len(WAY_NAMES)):
            mask = way_of_pair == w
            if not mask.any():
                continue
            rates = hit_rates(pairs, candidates, ks, mask=mask)
            objective[j, w] = [mean_over_targets(rates, k) for k in ks]
    chosen: dict[str, dict[int, float]] = {}
    record: dict[str, dict[str, dict[str, float]]] = {}
    for w, name in enumerate(WAY_NAMES):
        if np.isnan(objective[:, w]).all():
            continue
        chosen[name], record[name] = {}, {}
        for i, k in enumerate(ks):
            scores = objective[:, w, i]
            best = int(np.flatnonzero(scores == scores.max()).max())  # ties: the higher one
            chosen[name][k] = float(grid[best, w])
            record[name][str(k)] = {
                "objective": round(float(scores[best]), 6),
                "keep_all": round(float(scores[0]), 6),
                "backfill_only": round(float(scores[-1]), 6),
            }
    pairs_per_way = {WAY_NAMES[w]: int((way_of_pair == w).sum()) for w in range(len(WAY_NAMES))}
    return BlendRule(
        thresholds=chosen,
        chosen_on={"pairs": pairs_per_way, "ks": list(ks), "objective": record},
    )


def mean_over_targets(rates: HitRates, k: int) -> float:
    """The mean hit rate at ``k`` over the targets that have pairs (0 when none has)."""
    found = [rates.hit_rate[t.label][k] for t in TARGETS if rates.pairs[t.label] > 0]
    return float(np.mean(found)) if found else 0.0


def _threshold_grid(neighbours: SeedNeighbours) -> np.ndarray:
    """Candidate thresholds, ascending, per way: keep all, quantiles of the top score, none."""
    grid = np.zeros((len(QUANTILES) + 2, len(WAY_NAMES)))
    for w in range(len(WAY_NAMES)):
        scores = neighbours.scores[neighbours.way == w]
        finite = scores[np.isfinite(scores)]
        if not len(finite):
            continue
        low, high = math.floor(float(finite.min())) - 1.0, math.ceil(float(finite.max())) + 1.0
        top = scores[:, 0][np.isfinite(scores[:, 0])]
        grid[:, w] = np.r_[low, np.quantile(top, QUANTILES), high]
    return np.maximum.accumulate(grid, axis=0)


def _row_of(item: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, -1, np.int64)
    out[item] = rows
    return out


def _stored(emb: Embeddings, rows: np.ndarray, similarity: Similarity) -> np.ndarray:
    return (emb.input if similarity == "cosine" else emb.output)[rows]
