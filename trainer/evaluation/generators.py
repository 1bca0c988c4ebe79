"""Candidate generators: each maps query items to their top-K *other* items, best first.

Every generator answers ``candidates(query, k) -> Candidates`` for an array of item codes (one
code space for the whole evaluation: the event log's item codes). A query it cannot answer (an
item without a vector, with no co-purchase, without a category) gets an empty list, which the
hit rate counts as a miss: coverage is priced in. The query item itself is never a candidate,
as the service never recommends a seed back.

The embedding generators search exactly by default (``topk.TopKSearch``: one BLAS product and
one parallel top-k selection per batch of query items, the same answers as
``contracts.search.ExactSearch``) — on evaluation-sized data that is faster than building an
HNSW graph per model, and it measures the model rather than the index. With ``search="hnsw"``
the same queries go to an hnswlib index built with the version's index parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from contracts.interactions import Interaction
from contracts.manifest import SPACES, Similarity
from contracts.search import HnswSearch, NeighborSearch
from trainer.cold import category_means, prefer_tokens
from trainer.config import IndexConfig
from trainer.evaluation.topk import TopKSearch
from trainer.events import EventLog
from trainer.fit import Models
from trainer.progress import bar
from trainer.sgns import SGNSResult

SearchKind = Literal["exact", "hnsw"]
QUERY_BATCH = 2048  # query items per search call: one progress tick, bounded memory


@dataclass(frozen=True)
class Candidates:
    """The top-k candidate items of each query item, best first; -1 pads short lists."""

    query: np.ndarray  # int64 sorted distinct query item codes
    items: np.ndarray  # int64 (len(query), k) candidate item codes

    @property
    def k(self) -> int:
        return int(self.items.shape[1])

    def rows_of(self, items: np.ndarray) -> np.ndarray:
        """Row of each item in ``query``, -1 for items that were not asked about."""
        items = np.asarray(items, dtype=np.int64)
        if len(self.query) == 0:
            return np.full(len(items), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.query, items), len(self.query) - 1)
        return np.where(self.query[pos] == items, pos, -1)

    def answered(self) -> np.ndarray:
        """bool per query row: the list holds at least one candidate."""
        return self.items[:, 0] >= 0 if self.k else np.zeros(len(self.query), dtype=bool)


class CandidateGenerator(Protocol):
    """Anything that can produce candidate lists for a batch of query items."""

    def candidates(self, query: np.ndarray, k: int, progress: bool = False) -> Candidates: ...


def distinct_top_k(items: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """Each row's first ``k`` distinct items other than -1 and the row's query item.

    ``items`` (n, m) is ranked best first; the result is (n, k), -1 padded. Vectorised: a
    stable sort finds each row's repeats, a second stable sort moves the survivors forward.
    """
    n, m = items.shape
    if m == 0 or n == 0:
        return np.full((n, k), -1, dtype=np.int64)
    drop = (items < 0) | (items == query[:, None])
    by_item = np.argsort(items, axis=1, kind="stable")
    sorted_items = np.take_along_axis(items, by_item, axis=1)
    repeat = np.zeros_like(drop)
    repeat[:, 1:] = sorted_items[:, 1:] == sorted_items[:, :-1]
    np.put_along_axis(drop, by_item, repeat | np.take_along_axis(drop, by_item, axis=1), axis=1)
    order = np.argsort(drop, axis=1, kind="stable")[:, :k]
    picked = np.take_along_axis(items, order, axis=1)
    picked[np.take_along_axis(drop, order, axis=1)] = -1
    if picked.shape[1] < k:
        picked = np.pad(picked, ((0, 0), (0, k - picked.shape[1])), constant_values=-1)
    return picked.astype(np.int64)


@dataclass(frozen=True)
class Embeddings:
    """One trained model's vectors, rows labelled in the evaluation's item-code space."""

    input: np.ndarray  # float32 (n_rows, d): u, the query side
    output: np.ndarray  # float32 (n_rows, d): v
    item: np.ndarray  # int64 item code of each row
    interaction: np.ndarray | None  # int8 Interaction per row; None: one row per item

    def rows(self, interaction: Interaction | None) -> np.ndarray:
        """Rows of one interaction, or every row (``None``, or a no-interaction model)."""
        if interaction is None or self.interaction is None:
            return np.arange(len(self.item), dtype=np.int64)
        return np.flatnonzero(self.interaction == int(interaction)).astype(np.int64)


def embeddings_of(
    models: Models, event_log: EventLog, items: SGNSResult | None = None
) -> tuple[Embeddings, Embeddings | None]:
    """The pair and item models' vectors (``items`` for the latter when given), rows labelled
    with ``event_log``'s item codes."""
    vocab = models.vocab
    item_code = item_codes(models, event_log)
    pairs = Embeddings(  # the pair rows; entity tokens (after them) are not items
        models.pairs.input[: vocab.n_tokens],
        models.pairs.output[: vocab.n_tokens],
        item_code[vocab.token_item],
        vocab.token_interaction,
    )
    items = items if items is not None else models.items
    if items is None:
        return pairs, None
    return pairs, Embeddings(items.input, items.output, item_code, None)


def item_codes(models: Models, event_log: EventLog) -> np.ndarray:
    """The log's item code of each vocabulary item row."""
    code = {item_id: c for c, item_id in enumerate(event_log.item_ids)}
    return np.array([code[i] for i in models.vocab.item_ids], dtype=np.int64)


@dataclass(frozen=True)
class CategoryVectors:
    """A vector per category (a model's learned category tokens), in the evaluation's codes."""

    category: np.ndarray  # int64 category code of each row
    vectors: np.ndarray  # float32 (n, d), the query side


class EmbeddingGenerator:
    """Nearest stored rows to the query item's vector, reduced to distinct items.

    ``query_interaction`` picks the query vector (the item's view vector for the paper's
    view-interaction model; None for the no-interaction model); an item without that pair is
    searched with its first other pair (in the order view, favorite, cart, purchase), so every
    model of a seen item answers it; ``target`` picks the stored
    rows (one interaction, the "you may Y that", or None for all of a model's rows, the paper's
    figure 2, where an item's best row stands for it). ``cosine`` compares input vectors,
    ``inner_product`` an input with output vectors (the paper's eq. 1).

    ``cold_category`` (category code per item code, -1 for none) turns on cold items (issue 6):
    a query item without a query row but with a category is searched with its category's
    vector, so it has neighbours and can be a seed. It is never a candidate itself. The vector
    is the category's in ``cold_vectors`` when given (a model's learned category tokens), else
    the mean of the category's unit query vectors.
    """

    def __init__(
        self,
        embeddings: Embeddings,
        n_items: int,
        query_interaction: Interaction | None,
        target: Interaction | None,
        similarity: Similarity,
        search: SearchKind = "exact",
        index_config: IndexConfig | None = None,
        threads: int = 0,
        cold_category: np.ndarray | None = None,
        cold_vectors: CategoryVectors | None = None,
    ) -> None:
        self._query_row = np.full(n_items, -1, dtype=np.int64)
        fallbacks = [i for i in Interaction if i != query_interaction]
        later = fallbacks if query_interaction is not None else []
        for interaction in (query_interaction, *later):
            rows = embeddings.rows(interaction)
            rows = rows[self._query_row[embeddings.item[rows]] < 0]
            self._query_row[embeddings.item[rows]] = rows
        query_rows = embeddings.rows(query_interaction)
        self._queries = embeddings.input
        if cold_category is not None:
            self._add_cold_queries(cold_category, query_rows, embeddings, cold_vectors)
        stored_rows = embeddings.rows(target)
        self._stored_item = embeddings.item[stored_rows]
        self._per_item = int(np.bincount(self._stored_item).max()) if len(stored_rows) else 1
        vectors = embeddings.input if similarity == "cosine" else embeddings.output
        self._index = _index(
            vectors[stored_rows], SPACES[similarity], search, index_config, threads
        )

    def _add_cold_queries(
        self,
        category: np.ndarray,
        query_rows: np.ndarray,
        embeddings: Embeddings,
        given: CategoryVectors | None,
    ) -> None:
        """Query rows for items without one: their category's vector (``given``, else the mean
        unit query vector of the category's items)."""
        n_categories = int(category.max()) + 1 if len(category) else 0
        row_category = category[embeddings.item[query_rows]]
        found, vectors = category_means(self._queries[query_rows], row_category, n_categories)
        if given is not None:
            keep = given.category < n_categories
            tokens = given.category[keep], given.vectors[keep]
            found, vectors = prefer_tokens(found, vectors, *tokens)
        row_of_category = np.full(n_categories, -1, np.int64)
        row_of_category[found] = len(self._queries) + np.arange(len(vectors))
        cold = np.flatnonzero((self._query_row < 0) & (category >= 0))
        cold = cold[row_of_category[category[cold]] >= 0]
        self._queries = np.concatenate([self._queries, vectors.astype(self._queries.dtype)])
        self._query_row[cold] = row_of_category[category[cold]]

    def candidates(self, query: np.ndarray, k: int, progress: bool = False) -> Candidates:
        query = np.unique(np.asarray(query, dtype=np.int64))
        out = np.full((len(query), k), -1, dtype=np.int64)
        known = (query < len(self._query_row)) & (query >= 0)
        rows = np.where(known, self._query_row[np.where(known, query, 0)], -1)
        answerable = np.flatnonzero(rows >= 0)
        fetch = (k + 1) * self._per_item
        batches = range(0, len(answerable), QUERY_BATCH)
        for start in bar(batches, desc="search", unit="batch", enabled=progress, leave=False):
            at = answerable[start : start + QUERY_BATCH]
            labels, _ = self._index.query(self._queries[rows[at]], fetch)
            out[at] = distinct_top_k(self._stored_item[labels], query[at], k)
        return Candidates(query, out)


def _index(
    vectors: np.ndarray,
    space: str,
    search: SearchKind,
    config: IndexConfig | None,
    threads: int,
) -> NeighborSearch:
    if search == "exact" or len(vectors) == 0:
        return TopKSearch(vectors, space)  # type: ignore[arg-type]
    cfg = config or IndexConfig()
    return HnswSearch.build(
        vectors,
        None,
        space,  # type: ignore[arg-type]
        M=cfg.M,
        ef_construction=cfg.ef_construction,
        ef_search=cfg.ef_search,
        threads=threads,
    )


class RankedListGenerator:
    """Candidates from ranked item lists: one overall list, or one per item group.

    ``popular``: a single group holding every item. ``popular-in-category``: the group of a
    query item is its category, and a query item without a category gets nothing. Lists hold
    at most ``k + 1`` items so the query item can be dropped and ``k`` remain.
    """

    def __init__(self, ranked: np.ndarray, group_of_item: np.ndarray | None) -> None:
        self._ranked = ranked  # int64 (n_groups, m), -1 padded, best first
        self._group_of_item = group_of_item  # int64 per item code, -1 = no group

    def candidates(self, query: np.ndarray, k: int, progress: bool = False) -> Candidates:
        query = np.unique(np.asarray(query, dtype=np.int64))
        if self._group_of_item is None:
            group = np.zeros(len(query), dtype=np.int64)
        else:
            inside = (query >= 0) & (query < len(self._group_of_item))
            group = np.where(inside, self._group_of_item[np.where(inside, query, 0)], -1)
        table = np.full((len(query), self._ranked.shape[1]), -1, dtype=np.int64)
        has = group >= 0
        table[has] = self._ranked[group[has]]
        return Candidates(query, distinct_top_k(table, query, k))


def popularity(
    item: np.ndarray, interaction: np.ndarray, weights: dict[str, float], n: int
) -> np.ndarray:
    """Weighted interaction counts of every item code (trainer.popular's score)."""
    w = np.array([weights.get(i.label, 0.0) for i in Interaction])
    return np.bincount(item, weights=w[interaction], minlength=n)


def popular_generator(score: np.ndarray, k: int) -> RankedListGenerator:
    """The ``k + 1`` highest-scoring items (score > 0), the same list for every query."""
    order = np.lexsort((np.arange(len(score)), -score))
    order = order[score[order] > 0][: k + 1]
    ranked = np.full((1, k + 1), -1, dtype=np.int64)
    ranked[0, : len(order)] = order
    return RankedListGenerator(ranked, None)


def category_popular_generator(
    score: np.ndarray, category: np.ndarray, k: int
) -> RankedListGenerator:
    """Per category, its ``k + 1`` highest-scoring items (score > 0); items keyed by category."""
    n_groups = int(category.max()) + 1 if len(category) and category.max() >= 0 else 0
    ranked = np.full((max(n_groups, 1), k + 1), -1, dtype=np.int64)
    items = np.flatnonzero((score > 0) & (category >= 0))
    items = items[np.lexsort((items, -score[items], category[items]))]
    cats = category[items]
    if len(items):
        starts = np.flatnonzero(np.r_[True, cats[1:] != cats[:-1]])
        rank = np.arange(len(items)) - np.repeat(starts, np.diff(np.r_[starts, len(items)]))
        keep = rank <= k
        ranked[cats[keep], rank[keep]] = items[keep]
    return RankedListGenerator(ranked, category.astype(np.int64))
