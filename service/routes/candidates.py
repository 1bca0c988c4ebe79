"""GET /v1/users/{user_id}/candidates: the user's two explainable modules.

This is the hot path: the body is built as plain dicts in the shape of ``CandidatesOut`` and
sent as JSON directly (the schema documents it in OpenAPI, and a test checks real answers
against it), instead of building and re-validating pydantic models per candidate.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from contracts.interactions import Interaction
from contracts.redis_keys import ID_PATTERN
from service import metrics, retrieval
from service.auth import UNAUTHORIZED, ApiKey
from service.deps import NO_MODEL, ModelDep, SettingsDep, StoreDep, check_k
from service.errors import Unprocessable
from service.fastjson import FastJSONResponse
from service.history import HistoryStore, HistoryUnavailable, UserHistory
from service.model import Model
from service.schemas import CandidatesOut
from service.settings import Settings

router = APIRouter(tags=["candidates"], dependencies=[ApiKey], responses=UNAUTHORIZED | NO_MODEL)
log = logging.getLogger("service.candidates")

TITLES = {
    "viewed": "Inspired by what you viewed",
    "carted": "Inspired by what you carted",
    "popular": "Popular right now",
}
Body = dict[str, Any]


@router.get("/v1/users/{user_id}/candidates", response_model=CandidatesOut)
async def candidates(
    user_id: Annotated[str, Path(pattern=ID_PATTERN.pattern, description="The user's id.")],
    model: ModelDep,
    settings: SettingsDep,
    store: StoreDep,
    k: Annotated[int | None, Query(ge=1, description="Candidates per module.")] = None,
    exclude: Annotated[
        list[Annotated[str, Query(pattern=ID_PATTERN.pattern)]] | None,
        Query(description="Items never to return (e.g. already on the page)."),
    ] = None,
) -> FastJSONResponse:
    """Candidates inspired by the user's last views and carts, each with its reason."""
    k = _check_limits(settings, k, exclude)
    excluded = list(exclude or [])
    try:
        with metrics.timed(metrics.REDIS_SECONDS, "read"):
            history = await store.read(
                user_id, seeds=settings.seeds_per_module, purchases=settings.history_length
            )
    except HistoryUnavailable as exc:
        return _degraded(model, user_id, k, excluded, "read", exc)
    try:
        categories = await _cold_categories(store, model, history)
    except HistoryUnavailable as exc:
        return _degraded(model, user_id, k, excluded, "categories", exc)

    blocked = [*history.purchases, *excluded, *history.views, *history.carts]
    viewed = (history.views, Interaction.VIEW, settings.viewed_targets)
    carted = (history.carts, Interaction.CART, settings.carted_targets)
    modules = [
        _module(model, "viewed", *viewed, k, blocked, categories),
        _module(model, "carted", *carted, k, blocked, categories),
    ]
    metrics.UNKNOWN_SEEDS.inc(sum(len(m["unknown_seeds"]) for m in modules))
    if not any(m["candidates"] for m in modules):
        fallback = _popular(model, _categories(model, history), k, blocked, "cold_start")
        return _answer(model, user_id, [fallback], degraded=False)
    for m in modules:
        metrics.CANDIDATES.labels(m["name"]).observe(len(m["candidates"]))
    return _answer(model, user_id, modules, degraded=False)


def _degraded(
    model: Model, user_id: str, k: int, excluded: list[str], operation: str, exc: Exception
) -> FastJSONResponse:
    """Redis failed (``operation``): the overall popular items, ``degraded: true``."""
    metrics.REDIS_ERRORS.labels(operation).inc()
    metrics.DEGRADED.inc()
    log.warning(
        "history unavailable, serving popular", extra={"operation": operation, "reason": str(exc)}
    )
    return _answer(model, user_id, [_popular(model, [], k, excluded, "redis")], degraded=True)


def _check_limits(settings: Settings, k: int | None, exclude: list[str] | None) -> int:
    if k is not None:
        check_k(settings, k)
    if exclude and len(exclude) > settings.exclude_max:
        raise Unprocessable(
            ("query", "exclude"),
            f"exclude lists at most {settings.exclude_max} items (EXCLUDE_MAX), got {len(exclude)}",
        )
    return k or settings.k_default


async def _cold_categories(
    store: HistoryStore, model: Model, history: UserHistory
) -> dict[str, str]:
    """The categories of the seeds the model does not know: one HMGET, only when there are
    such seeds and the version has category vectors for cold items."""
    unknown = [s for s in (*history.views, *history.carts) if s not in model.item_row]
    if not unknown or not model.cold_row:
        return {}
    with metrics.timed(metrics.REDIS_SECONDS, "categories"):
        return await store.categories(list(dict.fromkeys(unknown)))


def _module(
    model: Model,
    name: str,
    seeds: list[str],
    interaction: Interaction,
    targets: tuple[Interaction, ...],
    k: int,
    blocked: list[str],
    categories: dict[str, str],
) -> Body:
    result = retrieval.module(
        model, seeds, interaction, targets, k, blocked, metrics.ann_timer, categories
    )
    for reason, count in result.backfilled.items():
        metrics.BACKFILLED.labels(name, reason).inc(count)
    return {
        "name": name,
        "title": TITLES[name],
        "seed_interaction": interaction.label,
        "target_interactions": [t.label for t in targets],
        "seeds": result.seeds,
        "unknown_seeds": result.unknown_seeds,
        "candidates": result.candidates,
    }


def _popular(model: Model, categories: list[str], k: int, blocked: list[str], why: str) -> Body:
    metrics.FALLBACKS.labels(why).inc()
    found = retrieval.popular(model, categories, k, blocked)
    metrics.CANDIDATES.labels("popular").observe(len(found))
    return {
        "name": "popular",
        "title": TITLES["popular"],
        "seed_interaction": None,
        "target_interactions": [],
        "seeds": [],
        "unknown_seeds": [],
        "candidates": found,
    }


def _answer(model: Model, user_id: str, modules: list[Body], degraded: bool) -> FastJSONResponse:
    body = {
        "user_id": user_id,
        "model_version": model.version,
        "modules": modules,
        "fallback": "popular" if modules[0]["name"] == "popular" else None,
        "degraded": degraded,
    }
    return FastJSONResponse(body, headers={"X-Model-Version": model.version})


def _categories(model: Model, history: UserHistory) -> list[str]:
    """Categories of the user's known history items, most recent interaction kind first."""
    items = [*history.carts, *history.views, *history.favorites, *history.purchases]
    rows = [model.item_row[i] for i in items if i in model.item_row]
    return [c for c in dict.fromkeys(model.item_category[r] for r in rows) if c is not None]
