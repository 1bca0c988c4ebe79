"""One user's candidates: the product's rules between the Redis history and the two modules.

* **Seeds.** "Inspired by what you viewed": the user's last ``SEEDS_PER_MODULE`` distinct views,
  searched in the ``VIEWED_TARGETS`` indexes; "…carted": the last carts, in ``CARTED_TARGETS``
  (``retrieval.module`` finds, filters, merges and backfills each module).
* **Never recommended:** the user's purchases, the caller's ``exclude``, and the seeds.
* **Cold seeds.** History items the model does not know are looked up in the item-category
  hash (one HMGET, only when there are such seeds and the version has category vectors), so
  they can seed from their category's vector.
* **Fallbacks.** No module has a seed (a new user, a history of unknown items): the popular
  items of the categories of the user's known items, then overall (``fallback: "popular"``).
  Redis failed or was slow: popular items overall, ``degraded: true`` — an answer, not an error.

``recommend`` does the I/O and ``answer`` the rest; the route (``service/routes/candidates.py``)
only parses and shapes, and the serving benchmark's in-process ceiling calls these same two.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from contracts.interactions import Interaction
from service import metrics, retrieval, tracing
from service.hidden import HiddenItems
from service.history import HistoryStore, HistoryUnavailable, UserHistory
from service.model import Model
from service.popular import popular
from service.reasons import Candidate
from service.retrieval import QueryTimer
from service.settings import Settings

log = logging.getLogger("service.candidates")
SPANS = {"viewed": "retrieval.viewed", "carted": "retrieval.carted", "popular": "retrieval.popular"}


@dataclass(frozen=True)
class Options:
    """What the caller asks for beyond the user: how many per module, which page, what never
    to return, and which categories only (None: every category)."""

    k_viewed: int
    k_carted: int
    offset: int = 0
    exclude: Sequence[str] = ()
    only: frozenset[str] | None = None

    @property
    def k(self) -> int:
        """The size of a single popular module (a fallback)."""
        return max(self.k_viewed, self.k_carted)


@dataclass(frozen=True)
class Module:
    """One module of an answer: which seeds, which targets, which candidates."""

    name: Literal["viewed", "carted", "popular"]
    seed_interaction: Interaction | None
    targets: tuple[Interaction, ...]
    seeds: list[str]
    unknown_seeds: list[str]
    candidates: list[Candidate]


@dataclass(frozen=True)
class Answer:
    version: str  # the model version that answered
    modules: list[Module]
    fallback: Literal["popular"] | None
    degraded: bool  # Redis was unavailable; the history was not read


async def recommend(
    model: Model,
    store: HistoryStore,
    settings: Settings,
    user_id: str,
    options: Options,
    hidden: HiddenItems,
) -> Answer:
    """The user's two modules (or a fallback): one history read, one category read when needed."""
    operation = "read"
    try:
        with tracing.span("history.read"), metrics.timed(metrics.REDIS_SECONDS, operation):
            history = await store.read(
                user_id, seeds=settings.seeds_per_module, purchases=settings.history_length
            )
        operation = "hidden"
        await hidden.update(store, history.hidden_version)
        operation = "categories"
        rows = item_rows(model, history, options)
        categories = await cold_categories(store, model, history, rows)
    except HistoryUnavailable as exc:
        return degraded(model, options, operation, exc, hidden)
    return answer(model, settings, history, options, categories, hidden=hidden, rows=rows)


def answer(
    model: Model,
    settings: Settings,
    history: UserHistory,
    options: Options,
    categories: dict[str, str] | None = None,
    timer: QueryTimer = metrics.ann_timer,
    hidden: HiddenItems | None = None,
    rows: dict[str, int] | None = None,
) -> Answer:
    """The answer for a history already read (no I/O): both modules, else the fallback; no
    hidden item in either. ``rows``: ``item_rows``, when the caller has them already."""
    blocked = [*history.purchases, *options.exclude, *history.views, *history.carts]
    cold = categories or {}
    rows = item_rows(model, history, options) if rows is None else rows
    modules = [
        _module(model, "viewed", history.views, Interaction.VIEW, settings.viewed_targets,
                options.k_viewed, blocked, cold, options, timer, hidden, rows),
        _module(model, "carted", history.carts, Interaction.CART, settings.carted_targets,
                options.k_carted, blocked, cold, options, timer, hidden, rows),
    ]  # fmt: skip
    metrics.UNKNOWN_SEEDS.inc(sum(len(m.unknown_seeds) for m in modules))
    if not any(m.seeds for m in modules):  # a cold start: nothing to be inspired by
        seen = _categories(model, history)
        fallback = _popular(model, seen, options, blocked, "cold_start", hidden)
        return Answer(model.version, [fallback], "popular", degraded=False)
    for m in modules:
        metrics.child(metrics.CANDIDATES, m.name, model.version).observe(len(m.candidates))
    return Answer(model.version, modules, None, degraded=False)


def degraded(
    model: Model,
    options: Options,
    operation: str,
    exc: Exception,
    hidden: HiddenItems | None = None,
) -> Answer:
    """Redis failed during ``operation``: the overall popular items, ``degraded: true`` (never
    an item hidden when this worker last read the hidden set)."""
    metrics.REDIS_ERRORS.labels(operation).inc()
    metrics.DEGRADED.inc()
    log.warning(
        "history unavailable, serving popular", extra={"operation": operation, "reason": str(exc)}
    )
    fallback = _popular(model, [], options, options.exclude, "redis", hidden)
    return Answer(model.version, [fallback], "popular", True)


def item_rows(model: Model, history: UserHistory, options: Options) -> dict[str, int]:
    """The model row (-1: unknown) of every id an answer looks up: the purchases, the caller's
    exclude and the seeds, in one lookup per request (each lookup has a fixed cost)."""
    ids = [*history.purchases, *options.exclude, *history.views, *history.carts]
    return dict(zip(ids, model.rows_of(ids).tolist(), strict=True))


async def cold_categories(
    store: HistoryStore, model: Model, history: UserHistory, rows: dict[str, int]
) -> dict[str, str]:
    """The categories of the seeds the model does not know (``rows``: ``item_rows``): one
    HMGET, only when there are such seeds and the version has category vectors for cold items."""
    unknown = [s for s in (*history.views, *history.carts) if rows[s] < 0]
    if not unknown or not model.cold_row:
        return {}
    with tracing.span("history.categories"), metrics.timed(metrics.REDIS_SECONDS, "categories"):
        return await store.categories(list(dict.fromkeys(unknown)))


def _module(
    model: Model,
    name: Literal["viewed", "carted"],
    seeds: list[str],
    interaction: Interaction,
    targets: tuple[Interaction, ...],
    k: int,
    blocked: list[str],
    categories: dict[str, str],
    options: Options,
    timer: QueryTimer,
    hidden: HiddenItems | None,
    rows: dict[str, int],
) -> Module:
    with tracing.span(SPANS[name]) as span:
        found = retrieval.module(
            model, seeds, interaction, targets, k, blocked, timer, categories, options.offset,
            options.only, hidden, rows,
        )  # fmt: skip
        if span is not None:
            span.set_attributes({
                "ic.model_version": model.version, "ic.k": k, "ic.seeds": len(found.seeds),
                "ic.unknown_seeds": len(found.unknown_seeds),
                "ic.candidates": len(found.candidates),
                "ic.backfilled": sum(found.backfilled.values()),
            })  # fmt: skip
    for reason, count in found.backfilled.items():
        metrics.child(metrics.BACKFILLED, name, reason, model.version).inc(count)
    return Module(name, interaction, targets, found.seeds, found.unknown_seeds, found.candidates)


def _popular(
    model: Model,
    categories: list[str],
    options: Options,
    blocked: Sequence[str],
    why: str,
    hidden: HiddenItems | None,
) -> Module:
    metrics.FALLBACKS.labels(why, model.version).inc()
    skip = hidden.ids if hidden is not None else frozenset()
    k = options.k + options.offset
    with tracing.span(SPANS["popular"]) as span:
        found = popular(model, categories, k, blocked, options.only, skip)
        found = found[options.offset :]
        if span is not None:
            span.set_attributes({
                "ic.model_version": model.version, "ic.reason": why, "ic.k": options.k,
                "ic.candidates": len(found),
            })  # fmt: skip
    metrics.child(metrics.CANDIDATES, "popular", model.version).observe(len(found))
    return Module("popular", None, (), [], [], found)


def _categories(model: Model, history: UserHistory) -> list[str]:
    """Categories of the user's known history items, most recent interaction kind first."""
    items = [*history.carts, *history.views, *history.favorites, *history.purchases]
    rows = [r for r in model.rows_of(items).tolist() if r >= 0]
    return [c for c in dict.fromkeys(model.category_of(r) for r in rows) if c is not None]
