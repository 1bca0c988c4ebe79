"""GET /v1/users/{user_id}/candidates: the user's two explainable modules.

Parse → the user's model (the canary version for its share of users, ``ModelRegistry.model_for``)
→ ``service.candidates.recommend`` (the product's rules) → shape. This is the hot path:
the body is built as plain dicts in the shape of ``CandidatesOut`` and sent as JSON directly
(the schema documents it in OpenAPI, and a test checks real answers against it), instead of
building and re-validating pydantic models per candidate. A plain GET (known parameters in
their plainest form) skips FastAPI's validation too (``QUICK_QUERY``, service/quick_route.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from contracts.redis_keys import ID_PATTERN
from service import metrics, tracing
from service.candidates import Answer, Options, recommend
from service.deps import NO_MODEL, model_for_user, reject_unknown_query, served
from service.errors import Unprocessable
from service.fastjson import FastJSONResponse
from service.quick_route import QuickQuery, quick_route
from service.schemas import MAX_CATEGORIES, CandidatesOut, CandidatesQuery
from service.settings import Settings

router = APIRouter(tags=["candidates"], responses=NO_MODEL)

TITLES = {
    "viewed": "Inspired by what you viewed",
    "carted": "Inspired by what you carted",
    "popular": "Popular right now",
}


UserId = Annotated[str, Path(pattern=ID_PATTERN.pattern, description="The user's id.")]
GET_PARAMETERS = frozenset({"k", "k_viewed", "k_carted", "category", "offset", "exclude"})
QUICK_QUERY = QuickQuery(
    path_ids=frozenset({"user_id"}),
    counts={"k": 1, "k_viewed": 1, "k_carted": 1, "offset": 0},
    id_lists=frozenset({"category", "exclude"}),
)
"""The GET's plain requests, which skip FastAPI's validation (service/quick_route.py)."""


async def candidates(
    request: Request,
    user_id: UserId,
    k: Annotated[int | None, Query(ge=1, description="Candidates per module.")] = None,
    k_viewed: Annotated[int | None, Query(ge=1, description="…of the viewed module.")] = None,
    k_carted: Annotated[int | None, Query(ge=1, description="…of the carted module.")] = None,
    category: Annotated[
        list[Annotated[str, Query(pattern=ID_PATTERN.pattern)]] | None,
        Query(description="Only candidates of these categories (repeat the parameter)."),
    ] = None,
    offset: Annotated[int, Query(ge=0, description="Skip this many per module (paging).")] = 0,
    exclude: Annotated[
        list[Annotated[str, Query(pattern=ID_PATTERN.pattern)]] | None,
        Query(description="Items never to return (e.g. already on the page)."),
    ] = None,
) -> FastJSONResponse:
    """Candidates inspired by the user's last views and carts, each with its reason."""
    reject_unknown_query(request, GET_PARAMETERS)
    settings, registry, store, hidden = served(request)
    query = CandidatesQuery.model_construct(
        k=k, k_viewed=k_viewed, k_carted=k_carted, category=category, offset=offset,
        exclude=exclude or [],
    )  # fmt: skip
    options = _options(settings, query, settings.exclude_max, "EXCLUDE_MAX", "query")
    model = model_for_user(registry, user_id)
    with metrics.timed(metrics.ANSWER_SECONDS, model.version):
        found = await recommend(model, store, settings, user_id, options, hidden)
    return respond(user_id, found, options)


router.add_api_route(
    "/v1/users/{user_id}/candidates",
    candidates,
    methods=["GET"],
    response_model=CandidatesOut,
    operation_id="getCandidates",
    summary="A user's two explainable modules",
    route_class_override=quick_route(QUICK_QUERY),
)


@router.post(
    "/v1/users/{user_id}/candidates",
    response_model=CandidatesOut,
    operation_id="postCandidates",
    summary="A user's two explainable modules, options in a JSON body",
    responses={400: {"description": "The body is not JSON."}},
)
async def candidates_with_body(
    request: Request, user_id: UserId, query: CandidatesQuery
) -> FastJSONResponse:
    """The same answer as the GET, for options too long for a URL (a long ``exclude``)."""
    settings, registry, store, hidden = served(request)
    options = _options(settings, query, settings.exclude_max_body, "EXCLUDE_MAX_BODY", "body")
    model = model_for_user(registry, user_id)
    with metrics.timed(metrics.ANSWER_SECONDS, model.version):
        found = await recommend(model, store, settings, user_id, options, hidden)
    return respond(user_id, found, options)


def respond(user_id: str, answer: Answer, options: Options) -> FastJSONResponse:
    """The answer as JSON, naming its model version in a header; with tracing on, in a
    ``render`` span, and the answer's figures (never its ids) on the request's span."""
    if tracing.enabled:
        tracing.annotate(_figures(answer, options))
    with tracing.span("render"):
        return FastJSONResponse(body(user_id, answer), headers={"X-Model-Version": answer.version})


def body(user_id: str, answer: Answer) -> dict[str, Any]:
    """The JSON body of ``CandidatesOut`` for an answer."""
    return {
        "user_id": user_id,
        "model_version": answer.version,
        "modules": [
            {
                "name": m.name,
                "title": TITLES[m.name],
                "seed_interaction": None
                if m.seed_interaction is None
                else m.seed_interaction.label,
                "target_interactions": [t.label for t in m.targets],
                "seeds": m.seeds,
                "unknown_seeds": m.unknown_seeds,
                "candidates": m.candidates,
            }
            for m in answer.modules
        ],
        "fallback": answer.fallback,
        "degraded": answer.degraded,
    }


def _figures(answer: Answer, options: Options) -> dict[str, str | bool | int]:
    """What a trace may say about an answer: sizes and flags, no user or item id."""
    return {
        "ic.k_viewed": options.k_viewed,
        "ic.k_carted": options.k_carted,
        "ic.offset": options.offset,
        "ic.excluded": len(options.exclude),
        "ic.categories": len(options.only or ()),
        "ic.fallback": answer.fallback or "none",
        "ic.degraded": answer.degraded,
        "ic.seeds": sum(len(m.seeds) for m in answer.modules),
        "ic.candidates": sum(len(m.candidates) for m in answer.modules),
    }


def _options(
    settings: Settings, query: CandidatesQuery, exclude_max: int, exclude_setting: str, where: str
) -> Options:
    """The request's options within this instance's limits (422 naming the field otherwise)."""
    k = query.k or settings.k_default
    sizes = {"k": k, "k_viewed": query.k_viewed or k, "k_carted": query.k_carted or k}
    for name, size in sizes.items():
        if size > settings.k_max:
            raise Unprocessable(
                (where, name), f"{name} must be at most {settings.k_max} (K_MAX), got {size}"
            )
    # a page past the first K_MAX candidates is empty, not an error
    offset = min(query.offset, settings.k_max)
    room = settings.k_max - offset
    if len(query.exclude) > exclude_max:
        raise Unprocessable(
            (where, "exclude"),
            f"exclude lists at most {exclude_max} items ({exclude_setting}), got "
            f"{len(query.exclude)}",
        )
    if query.category is not None and len(query.category) > MAX_CATEGORIES:
        raise Unprocessable((where, "category"), f"at most {MAX_CATEGORIES} categories")
    only = None if not query.category else frozenset(query.category)
    k_viewed, k_carted = min(sizes["k_viewed"], room), min(sizes["k_carted"], room)
    return Options(k_viewed, k_carted, offset, query.exclude, only)
