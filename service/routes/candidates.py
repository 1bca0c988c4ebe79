"""GET /v1/users/{user_id}/candidates: the user's two explainable modules.

Parse → ``service.candidates.recommend`` (the product's rules) → shape. This is the hot path:
the body is built as plain dicts in the shape of ``CandidatesOut`` and sent as JSON directly
(the schema documents it in OpenAPI, and a test checks real answers against it), instead of
building and re-validating pydantic models per candidate.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from contracts.redis_keys import ID_PATTERN
from service.candidates import Answer, recommend
from service.deps import NO_MODEL, ModelDep, SettingsDep, StoreDep, check_k
from service.errors import Unprocessable
from service.fastjson import FastJSONResponse
from service.schemas import CandidatesOut
from service.settings import Settings

router = APIRouter(tags=["candidates"], responses=NO_MODEL)

TITLES = {
    "viewed": "Inspired by what you viewed",
    "carted": "Inspired by what you carted",
    "popular": "Popular right now",
}


@router.get(
    "/v1/users/{user_id}/candidates",
    response_model=CandidatesOut,
    operation_id="getCandidates",
    summary="A user's two explainable modules",
)
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
    found = await recommend(model, store, settings, user_id, k, exclude or ())
    return FastJSONResponse(body(user_id, found), headers={"X-Model-Version": found.version})


def body(user_id: str, answer: Answer) -> dict[str, Any]:
    """The JSON body of ``CandidatesOut`` for an answer."""
    return {
        "user_id": user_id,
        "model_version": answer.version,
        "modules": [
            {
                "name": m.name,
                "title": TITLES[m.name],
                "seed_interaction": m.seed_interaction.label if m.seed_interaction else None,
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


def _check_limits(settings: Settings, k: int | None, exclude: list[str] | None) -> int:
    if k is not None:
        check_k(settings, k)
    if exclude and len(exclude) > settings.exclude_max:
        raise Unprocessable(
            ("query", "exclude"),
            f"exclude lists at most {settings.exclude_max} items (EXCLUDE_MAX), got {len(exclude)}",
        )
    return k or settings.k_default
