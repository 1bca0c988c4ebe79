"""From seeds to explained candidates: batched nearest-neighbour queries and the fair merge.

A module's seeds are the user's last few distinct items of one interaction (views for
"Inspired by what you viewed", carts for "…carted"). Each seed (ℓ, X) is looked up as the pair
(ℓ, X): its neighbours among target pairs come from the precomputed table X>target when the
version has one deep enough (a memory-mapped row read), else from one batched ``knn_query`` of
the live target index for all seeds of the module. A seed item without that pair falls back to
its no-interaction vector, searched in the item index.

**The merge rule.** Each seed's neighbours are ranked by score (deduplicated across target
indexes, best score kept). Candidates are then taken in rounds: in every round each seed, in
order of its next candidate's score, contributes its best candidate not yet taken; a round's
candidates are ordered by score. So every seed gets a fair share before any seed gets more,
one very popular seed cannot fill the module, and the order is by score within that rule.
No item appears twice; seeds, blocked items (the user's purchases, the caller's ``exclude``)
never appear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np

from contracts.interactions import Interaction
from service.model import ITEM_INDEX, Model

PAIR, ITEM, POPULAR = "item-interaction", "item", "popular"
QueryTimer = Callable[[str], AbstractContextManager[object]]
"""``timer(index_name)`` returns a context manager that times one batched query."""


class UnknownItemError(LookupError):
    """The item is not in the model's vocabulary."""


@dataclass(frozen=True)
class Candidate:
    """One recommended item and why."""

    item_id: str
    score: float
    interaction: str | None  # the predicted interaction (the index it was found in)
    because_item: str | None  # the seed that produced it
    because_interaction: str | None
    embedding: str  # PAIR; ITEM when the seed had no pair vector; POPULAR for fallbacks
    category_id: str | None = None  # set for popular fallbacks


@dataclass(frozen=True)
class ModuleResult:
    seeds: list[str]  # seeds the model knows, newest first
    unknown_seeds: list[str]  # seeds absent from the model, skipped
    candidates: list[Candidate]


@dataclass(frozen=True)
class _Ranked:
    """One seed's neighbours, best first: item rows, scores, predicted interactions."""

    seed: str
    rows: list[int]
    scores: list[float]
    interactions: list[str | None]
    embedding: str


def module(
    model: Model,
    seeds: Sequence[str],
    seed_interaction: Interaction,
    targets: Sequence[Interaction],
    k: int,
    blocked: Iterable[str],
    timer: QueryTimer | None = None,
) -> ModuleResult:
    """The candidates of one module: ``k`` items found from ``seeds`` by the merge rule."""
    known = [s for s in seeds if s in model.item_row]
    unknown = [s for s in seeds if s not in model.item_row]
    if not known:
        return ModuleResult([], unknown, [])
    blocked_rows = {model.item_row[b] for b in blocked if b in model.item_row}
    blocked_rows.update(model.item_row[s] for s in known)
    depth = k + len(blocked_rows)
    ranked = _neighbours(model, known, seed_interaction, targets, depth, timer)
    return ModuleResult(
        known, unknown, _fair_merge(model, ranked, seed_interaction, k, blocked_rows)
    )


def neighbors(
    model: Model,
    item_id: str,
    interaction: Interaction,
    target: Interaction,
    k: int,
    timer: QueryTimer | None = None,
) -> list[Candidate]:
    """Because you <interaction> ``item_id``, you may <target> these: best first, not itself."""
    if item_id not in model.item_row:
        raise UnknownItemError(f"item {item_id!r} is not in model version {model.version}")
    ranked = _neighbours(model, [item_id], interaction, [target], k + 1, timer)
    return _fair_merge(model, ranked, interaction, k, {model.item_row[item_id]})


def popular(
    model: Model, categories: Sequence[str], k: int, blocked: Iterable[str]
) -> list[Candidate]:
    """Popular items of ``categories`` (round-robin, in the given order), then overall ones."""
    taken = set(blocked)
    result: list[Candidate] = []

    def take(item: str, score: float, category: str | None) -> None:
        if item not in taken and len(result) < k:
            taken.add(item)
            result.append(Candidate(item, score, None, None, None, POPULAR, category))

    lists = [(c, model.popular.by_category.get(c, [])) for c in dict.fromkeys(categories)]
    for rank in range(max((len(ranked) for _, ranked in lists), default=0)):
        for category, ranked in lists:
            if rank < len(ranked):
                take(*ranked[rank], category)
    for item, score in model.popular.overall:
        take(item, score, None)
    return result


def _neighbours(
    model: Model,
    seeds: Sequence[str],
    seed_interaction: Interaction,
    targets: Sequence[Interaction],
    depth: int,
    timer: QueryTimer | None,
) -> list[_Ranked]:
    """Each seed's neighbours over all targets, deduplicated by item, best first."""
    rows = np.array([model.item_row[s] for s in seeds], dtype=np.int64)
    tokens = model.item_token[rows, int(seed_interaction)]
    found: list[list[tuple[np.ndarray, np.ndarray, str | None]]] = [[] for _ in seeds]
    with_pair = np.flatnonzero(tokens >= 0)
    if len(with_pair):
        pair_tokens = tokens[with_pair]
        queries = None
        for target in targets:
            found_rows = _from_table(model, seed_interaction, target, pair_tokens, depth, timer)
            if found_rows is None and target.label in model.indexes:
                if queries is None:
                    queries = np.asarray(model.pair_vectors[pair_tokens])
                labels, scores = _query(model, target.label, queries, depth, timer)
                found_rows = model.token_item[labels], scores
            if found_rows is not None:
                for j, seed in enumerate(with_pair):
                    found[seed].append((found_rows[0][j], found_rows[1][j], target.label))
    without = np.flatnonzero(tokens < 0)
    if len(without):
        queries = np.asarray(model.item_vectors[rows[without]])
        labels, scores = _query(model, ITEM_INDEX, queries, depth, timer)
        for j, seed in enumerate(without):
            found[seed].append((labels[j], scores[j], None))
    return [
        _ranked(seed, parts, PAIR if tokens[i] >= 0 else ITEM, depth)
        for i, (seed, parts) in enumerate(zip(seeds, found, strict=True))
    ]


def _from_table(
    model: Model,
    seed: Interaction,
    target: Interaction,
    tokens: np.ndarray,
    depth: int,
    timer: QueryTimer | None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows of the precomputed seed>target table, when it exists and is deep enough."""
    table = model.tables.get((seed.label, target.label))
    if table is None or depth > table.k:
        return None
    with timer(f"table:{seed.label}>{target.label}") if timer else nullcontext():
        return table.lookup(tokens)


def _query(
    model: Model, name: str, queries: np.ndarray, k: int, timer: QueryTimer | None
) -> tuple[np.ndarray, np.ndarray]:
    with timer(name) if timer else nullcontext():
        return model.indexes[name].query(queries, k)


def _ranked(
    seed: str, parts: list[tuple[np.ndarray, np.ndarray, str | None]], embedding: str, depth: int
) -> _Ranked:
    """One seed's neighbours over its targets: best first, each item once, at most ``depth``."""
    if len(parts) == 1:  # one target: rows are already distinct and best first
        rows, scores, label = parts[0]
        valid = rows >= 0  # tables pad short rows with -1
        rows, scores = rows[valid][:depth], scores[valid][:depth]
        return _Ranked(seed, rows.tolist(), scores.tolist(), [label] * len(rows), embedding)
    if not parts:
        return _Ranked(seed, [], [], [], embedding)
    rows = np.concatenate([p[0] for p in parts])
    scores = np.concatenate([p[1] for p in parts])
    source = np.concatenate([np.full(len(p[0]), i) for i, p in enumerate(parts)])
    order = np.argsort(-scores, kind="stable")
    order = order[rows[order] >= 0]
    rows, scores, source = rows[order], scores[order], source[order]
    _, first = np.unique(rows, return_index=True)
    keep = np.sort(first)[:depth]
    labels = [parts[i][2] for i in source[keep].tolist()]
    return _Ranked(seed, rows[keep].tolist(), scores[keep].tolist(), labels, embedding)


def _fair_merge(
    model: Model, ranked: list[_Ranked], seed_interaction: Interaction, k: int, blocked: set[int]
) -> list[Candidate]:
    taken = set(blocked)
    label = seed_interaction.label
    result: list[Candidate] = []

    def take(r: _Ranked, p: int) -> None:
        result.append(
            Candidate(model.item_ids[r.rows[p]], round(r.scores[p], 6), r.interactions[p],
                      r.seed, label, r.embedding)
        )  # fmt: skip

    if len(ranked) == 1:  # one seed: its list in order, minus what is blocked
        only = ranked[0]
        for p, row in enumerate(only.rows):
            if len(result) == k:
                break
            if row not in taken:
                taken.add(row)
                take(only, p)
        return result

    pointers = [0] * len(ranked)

    def advance(i: int) -> bool:
        """Move seed i past taken items; True while it has a candidate left."""
        rows = ranked[i].rows
        while pointers[i] < len(rows) and rows[pointers[i]] in taken:
            pointers[i] += 1
        return pointers[i] < len(rows)

    while len(result) < k:
        offers = sorted(
            [(-ranked[i].scores[pointers[i]], i) for i in range(len(ranked)) if advance(i)]
        )
        if not offers:
            break
        picks = []
        for _, i in offers:
            if advance(i):
                taken.add(ranked[i].rows[pointers[i]])
                picks.append((ranked[i].scores[pointers[i]], i, pointers[i]))
        picks.sort(key=lambda pick: -pick[0])
        for _, i, p in picks[: k - len(result)]:
            take(ranked[i], p)
    return result
