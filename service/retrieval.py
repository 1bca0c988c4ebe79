"""From seeds to explained candidates: precomputed neighbour rows, batched queries, the fair merge.

The module rule top to bottom — seeds, searches, filters, blend, merge — over one data shape,
``_Ranked``; the merge kernel is ``merge.py``, the popular backfill ``popular.py``, what a
candidate says about itself ``reasons.py``.

A module's seeds are the user's last few distinct items of one interaction (views for "Inspired
by what you viewed", carts for "…carted"). Each seed (ℓ, X) is looked up as the pair (ℓ, X):
its neighbours among target pairs come from the precomputed table X>target when the version has
one deep enough (a memory-mapped row read), else from one batched ``knn_query`` of the live
target index for all seeds of the module (a worker may load no live index at all:
``LIVE_INDEXES``; a table then answers as deep as it goes). A seed item without that pair falls
back to its no-interaction vector: the ``item>item`` table, else the live item index. A seed the
model does not know but whose category it does (a cold item: the caller passes the categories)
is searched with its category's vector: the ``cold>target`` table, else the live target index.

**The merge rule.** Each seed's neighbours are ranked by score (deduplicated across target
indexes, best score kept); blocked items (the seeds, the user's purchases, the caller's
``exclude``) are removed. An item that several seeds found is credited to the seed that ranks
it highest (on a tie, the better score, then the newer seed), and counts for that seed only.
Candidates are then taken in rounds: round r holds every seed's r-th remaining candidate, and a
round is ordered by score. So every seed gets a fair share before any seed gets more, one very
popular seed cannot fill the module, the order is by score within that rule, and no item
appears twice.

**The blend rule** (contracts/blend.py). Before the merge, each seed keeps only the neighbours
scoring at least the version's threshold for the way it was searched (PAIR, ITEM, CATEGORY) and
the module's k: a weak neighbour is worse than a best seller of the seed's category. A module
then short of k is backfilled, after its neighbours: the popular items of its seeds' categories
in turns, newest seed first, each naming its seed (``reason: "popular_in_category"``), then
popular overall. A version without a rule keeps every neighbour; the backfill still fills a
module its neighbours leave short (a small catalogue, a shallow table).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from contracts.blend import BlendRule
from contracts.interactions import Interaction
from service import tracing
from service.merge import merge
from service.model import COLD, ITEM_INDEX, Model
from service.popular import fill, seed_categories
from service.reasons import CATEGORY, ITEM, PAIR, POPULAR, Because, Candidate

if TYPE_CHECKING:
    from service.hidden import HiddenItems as Hidden

QueryTimer = Callable[[str], AbstractContextManager[object]]
"""``timer(index_name)`` returns a context manager that times one batched query."""


class UnknownItemError(LookupError):
    """The item is not in the model's vocabulary."""


class NotServedError(LookupError):
    """Neither a neighbour table nor a live index answers this seed>target here."""


@dataclass(frozen=True)
class ModuleResult:
    seeds: list[str]  # seeds the model knows or has a category vector for, newest first
    unknown_seeds: list[str]  # seeds absent from the model (and without a cold category)
    candidates: list[Candidate]
    backfilled: dict[str, int] = field(default_factory=dict)  # popular backfill: reason → count


@dataclass(frozen=True)
class _Ranked:
    """One seed's neighbours, best first: item rows, scores, and the target each came from."""

    because: Because  # the seed, as its candidates name it
    rows: np.ndarray  # item rows, distinct, no padding
    scores: np.ndarray  # float32
    source: np.ndarray  # int64 position in ``labels`` of each neighbour's target
    labels: list[str | None]  # target interaction labels (None: the item index)
    embedding: str

    def keep(self, mask: np.ndarray) -> _Ranked:
        """Only the neighbours where ``mask`` (bool, one per neighbour) holds."""
        if mask.all():
            return self
        rows, scores, source = self.rows[mask], self.scores[mask], self.source[mask]
        return _Ranked(self.because, rows, scores, source, self.labels, self.embedding)


def module(
    model: Model,
    seeds: Sequence[str],
    seed_interaction: Interaction,
    targets: Sequence[Interaction],
    k: int,
    blocked: Iterable[str],
    timer: QueryTimer | None = None,
    categories: Mapping[str, str] | None = None,
    offset: int = 0,
    only: frozenset[str] | None = None,
    hidden: Hidden | None = None,
    rows: Mapping[str, int] | None = None,
) -> ModuleResult:
    """The candidates of one module: ``k`` items found from ``seeds`` by the merge rule, the
    neighbours below the version's blend thresholds left out, a short module backfilled with
    popular items (of the seeds' categories first); the first ``offset`` of them skipped (the
    next page).

    ``categories`` maps seeds the model does not know to their category: those of a category
    with a cold vector in this version are seeds too (``embedding: "category"``). ``only``: the
    candidates' categories, when the caller filters by category; others are dropped before the
    merge, and the backfill comes from these categories only. ``rows``: the item row (-1: not
    in the model) of every seed and blocked id, when the caller has looked them up already.
    """
    if offset:
        page = module(model, seeds, seed_interaction, targets, k + offset, blocked, timer,
                      categories, 0, only, hidden, rows)  # fmt: skip
        kept = page.candidates[offset:]
        backfilled = Counter(c.because.reason for c in kept if c.embedding == POPULAR)
        return ModuleResult(page.seeds, page.unknown_seeds, kept, dict(backfilled))
    blocked = tuple(blocked)  # read twice: for the merge and, when short, for the backfill
    if rows is None:
        ids = [*seeds, *blocked]
        rows = dict(zip(ids, model.rows_of(ids).tolist(), strict=True))
    known = {s: rows[s] for s in seeds}
    cold = {
        s: c
        for s, row in known.items()
        if row < 0 and (c := (categories or {}).get(s)) in model.cold_row
    }
    used = [s for s in seeds if known[s] >= 0 or s in cold]
    unknown = [s for s in seeds if known[s] < 0 and s not in cold]
    if not used:
        return ModuleResult([], unknown, [])
    blocked_rows = {row for b in blocked if (row := rows[b]) >= 0}
    blocked_rows.update(known[s] for s in used if s not in cold)
    depth = k + len(blocked_rows)
    used_rows = [known[s] for s in used]
    ranked = _neighbours(model, used, used_rows, seed_interaction, targets, depth, timer, cold)
    confident = _confident(model.blend, ranked, k, seed_interaction)
    if only is not None:
        confident = _in_categories(model, confident, only)
    mask = hidden.mask(model) if hidden is not None else None
    if mask is not None:
        confident = [_visible(r, mask) for r in confident]
    candidates = _candidates(model, confident, k, blocked_rows)
    if len(candidates) >= k:
        return ModuleResult(used, unknown, candidates)
    lists = seed_categories(model, used, used_rows, seed_interaction, cold)
    if only is not None:
        lists = [(because, ranked) for because, ranked in lists if because.category_id in only]
    taken = {*blocked, *used, *(c.item_id for c in candidates)}
    skip = hidden.ids if hidden is not None else frozenset()
    backfill = fill(model, lists, k - len(candidates), taken, only, skip)
    backfilled = Counter(c.because.reason for c in backfill)
    return ModuleResult(used, unknown, candidates + backfill, dict(backfilled))


def neighbors(
    model: Model,
    item_id: str,
    interaction: Interaction,
    target: Interaction,
    k: int,
    timer: QueryTimer | None = None,
    hidden: Hidden | None = None,
) -> list[Candidate]:
    """Because you <interaction> ``item_id``, you may <target> these: best first, not itself."""
    row = model.row_of(item_id)
    if row is None:
        raise UnknownItemError(f"item {item_id!r} is not in model version {model.version}")
    if target.label not in model.indexes and (interaction.label, target.label) not in model.tables:
        raise NotServedError(
            f"{interaction.label}>{target.label} has no neighbour table in version "
            f"{model.version} and the {target.label} index is not loaded here (LIVE_INDEXES)"
        )
    ranked = _neighbours(model, [item_id], [row], interaction, [target], k + 1, timer, {})
    mask = hidden.mask(model) if hidden is not None else None
    if mask is not None:
        ranked = [_visible(r, mask) for r in ranked]
    return _candidates(model, ranked, k, {row})


def _visible(ranked: _Ranked, hidden: np.ndarray) -> _Ranked:
    """``ranked`` without its hidden items (``hidden``: a mask over item rows)."""
    return ranked.keep(~hidden[ranked.rows])


def _in_categories(model: Model, ranked: list[_Ranked], only: frozenset[str]) -> list[_Ranked]:
    """Each seed's neighbours whose item is of one of the ``only`` categories."""
    codes = np.array([model.category_code[c] for c in only if c in model.category_code], np.int32)
    return [r.keep(np.isin(model.item_category_code[r.rows], codes)) for r in ranked]


def _confident(
    rule: BlendRule | None, ranked: list[_Ranked], k: int, seed_interaction: Interaction
) -> list[_Ranked]:
    """Each seed's neighbours scoring at least its way's threshold at ``k`` (contracts/blend.py);
    all of them for a version without a rule."""
    if rule is None:
        return ranked
    label = seed_interaction.label
    return [_at_least(r, rule.threshold(r.embedding, k, label)) for r in ranked]


def _at_least(ranked: _Ranked, threshold: float) -> _Ranked:
    return ranked.keep(ranked.scores >= threshold)


def _candidates(model: Model, ranked: list[_Ranked], k: int, blocked: set[int]) -> list[Candidate]:
    """The merged (service/merge.py), explained candidates of ``ranked`` seeds."""
    with tracing.span("merge") as span:
        candidates = _merged(model, ranked, k, blocked)
        if span is not None:
            span.set_attributes({"ic.seeds": len(ranked), "ic.candidates": len(candidates)})
    return candidates


def _merged(model: Model, ranked: list[_Ranked], k: int, blocked: set[int]) -> list[Candidate]:
    merged = merge([(r.rows, r.scores) for r in ranked], k, blocked)
    picks = merged.picks
    if not len(picks):
        return []
    seeds = merged.seeds[picks]
    rows, scores = merged.rows[picks], merged.scores[picks]
    label_starts = np.cumsum([0] + [len(r.labels) for r in ranked])[seeds]
    targets = np.concatenate([r.source for r in ranked])[picks] + label_starts
    labels = [label for r in ranked for label in r.labels]
    because = [r.because for r in ranked]
    embedding = [r.embedding for r in ranked]
    rounded = scores.astype(np.float64).round(6).tolist()
    ids = model.item_ids_of(rows)
    picked = zip(ids, rounded, targets.tolist(), seeds.tolist(), strict=True)
    return [Candidate(i, x, labels[t], embedding[s], because[s]) for i, x, t, s in picked]


def _neighbours(
    model: Model,
    seeds: Sequence[str],
    seed_rows: Sequence[int],
    seed_interaction: Interaction,
    targets: Sequence[Interaction],
    depth: int,
    timer: QueryTimer | None,
    cold: Mapping[str, str],
) -> list[_Ranked]:
    """Each seed's neighbours over all targets, deduplicated by item, best first
    (``seed_rows``: each seed's item row, unused for a cold seed).

    A seed is searched, in one batch per way and target, by its ``seed_interaction`` pair
    vector (PAIR), else by its no-interaction vector in the item index (ITEM), or, when it is in
    ``cold`` (seed → category), by its category's vector (CATEGORY).
    """
    ways: dict[str, list[int]] = {PAIR: [], ITEM: [], CATEGORY: []}
    keys = np.empty(len(seeds), np.int64)  # the row of each seed's vector, in its way's array
    for i, (seed, row) in enumerate(zip(seeds, seed_rows, strict=True)):
        if seed in cold:
            ways[CATEGORY].append(i)
            keys[i] = model.cold_row[cold[seed]]
            continue
        token = model.item_token[row, int(seed_interaction)]
        ways[PAIR if token >= 0 else ITEM].append(i)
        keys[i] = token if token >= 0 else row
    labels = [t.label for t in targets]
    searches = (
        (PAIR, seed_interaction.label, labels, model.pair_vectors, model.token_item),
        (ITEM, ITEM_INDEX, [ITEM_INDEX], model.item_vectors, None),
        (CATEGORY, COLD, labels, model.cold_vectors, model.token_item),
    )
    found: list[list[tuple[np.ndarray, np.ndarray, str | None]]] = [[] for _ in seeds]
    embedding = [PAIR] * len(seeds)
    for way, seed_name, target_names, vectors, label_rows in searches:
        members = ways[way]
        if not members:
            continue
        for i in members:
            embedding[i] = way
        for target in target_names:
            key = (seed_name, target)
            rows_scores = _search(model, key, keys[members], vectors, label_rows, depth, timer)
            if rows_scores is not None:
                label = None if target == ITEM_INDEX else target
                for j, i in enumerate(members):
                    found[i].append((rows_scores[0][j], rows_scores[1][j], label))
    return [
        _ranked(_seed_because(seed, seed_interaction, cold), parts, embedding[i], depth)
        for i, (seed, parts) in enumerate(zip(seeds, found, strict=True))
    ]


def _seed_because(seed: str, seed_interaction: Interaction, cold: Mapping[str, str]) -> Because:
    return Because("seed", seed, seed_interaction.label, cold.get(seed))


def _search(
    model: Model,
    key: tuple[str, str],
    keys: np.ndarray,
    vectors: np.ndarray,
    label_rows: np.ndarray | None,
    depth: int,
    timer: QueryTimer | None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """(item rows, scores) of each seed key for ``key`` = (seed, target): from the table when
    it answers, else from the live target index with ``vectors[keys]`` (labels mapped to item
    rows by ``label_rows``); None when neither is available here."""
    found = _from_table(model, key, keys, depth, timer)
    if found is None and key[1] in model.indexes:
        labels, scores = query_index(model, key[1], np.asarray(vectors[keys]), depth, timer)
        found = (labels if label_rows is None else label_rows[labels]), scores
    return found


def _from_table(
    model: Model,
    key: tuple[str, str],
    tokens: np.ndarray,
    depth: int,
    timer: QueryTimer | None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows of the precomputed ``seed>target`` table, when it exists and is deep enough.

    A table shallower than ``depth`` still answers (with fewer neighbours) when the target's
    live index is not loaded (LIVE_INDEXES).
    """
    table = model.tables.get(key)
    if table is None or (depth > table.k and key[1] in model.indexes):
        return None
    with timer(f"table:{key[0]}>{key[1]}") if timer else nullcontext():
        return table.lookup(tokens)


def query_index(
    model: Model, name: str, queries: np.ndarray, k: int, timer: QueryTimer | None
) -> tuple[np.ndarray, np.ndarray]:
    """One batched query of the live index ``name`` (its labels, scores), timed by ``timer``."""
    with timer(name) if timer else nullcontext():
        return model.indexes[name].query(queries, k)


def _ranked(
    because: Because,
    parts: list[tuple[np.ndarray, np.ndarray, str | None]],
    embedding: str,
    depth: int,
) -> _Ranked:
    """One seed's neighbours over its targets: best first, each item once, at most ``depth``."""
    labels = [label for _, _, label in parts]
    if len(parts) == 1:  # one target: rows are already distinct and best first
        rows, scores, _ = parts[0]
        valid = rows >= 0  # tables pad short rows with -1
        if not valid.all():
            rows, scores = rows[valid], scores[valid]
        rows, scores = rows[:depth], scores[:depth]
        return _Ranked(because, rows, scores, np.zeros(len(rows), np.int64), labels, embedding)
    if not parts:
        empty = np.zeros(0, np.int64)
        return _Ranked(because, empty, np.zeros(0, np.float32), empty, labels, embedding)
    rows = np.concatenate([p[0] for p in parts])
    scores = np.concatenate([p[1] for p in parts])
    source = np.concatenate([np.full(len(p[0]), i) for i, p in enumerate(parts)])
    order = np.argsort(-scores, kind="stable")
    order = order[rows[order] >= 0]
    rows, scores, source = rows[order], scores[order], source[order]
    _, first = np.unique(rows, return_index=True)
    keep = np.sort(first)[:depth]
    return _Ranked(because, rows[keep], scores[keep], source[keep], labels, embedding)
