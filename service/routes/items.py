"""GET /v1/items/{item_id}/neighbors: "because you X this, you may Y that" (or search, shop…)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request

from contracts.interactions import Interaction
from contracts.redis_keys import ID_PATTERN
from service import entities, metrics, retrieval, tracing
from service.deps import (
    NO_MODEL,
    HiddenDep,
    ModelDep,
    SettingsDep,
    check_k,
    reject_unknown_query,
)
from service.errors import Unprocessable
from service.fastjson import FastJSONResponse
from service.schemas import InteractionName, NeighborsOut, TargetName

router = APIRouter(tags=["items"], responses=NO_MODEL)


@router.get(
    "/v1/items/{item_id}/neighbors",
    response_model=NeighborsOut,
    operation_id="getItemNeighbors",
    summary="Because you X this item, you may Y these",
    responses={
        404: {"description": "The item (or its `interaction` pair) is not in the served model."},
        422: {"description": "Invalid parameters, or a seed>target this instance cannot serve."},
    },
)
def neighbors(
    request: Request,
    item_id: Annotated[str, Path(pattern=ID_PATTERN.pattern)],
    model: ModelDep,
    settings: SettingsDep,
    hidden: HiddenDep,
    interaction: Annotated[InteractionName, Query(description="What the user did (X).")] = "view",
    target: Annotated[
        TargetName,
        Query(description="What to predict (Y): an interaction's items or an entity kind."),
    ] = "cart",
    k: Annotated[int, Query(ge=1)] = 50,
) -> FastJSONResponse:
    """What the user may ``target`` after they ``interaction`` this item, best first."""
    reject_unknown_query(request, frozenset({"interaction", "target", "k"}))
    check_k(settings, k)
    try:
        with tracing.span("neighbors") as span:
            found = entities.item_neighbors(
                model, item_id, Interaction.parse(interaction), target, k, metrics.ann_timer, hidden
            )
            if span is not None:  # no item id: the route template says enough
                span.set_attributes({
                    "ic.model_version": model.version, "ic.interaction": interaction,
                    "ic.target": target, "ic.k": k, "ic.neighbors": len(found),
                })  # fmt: skip
    except retrieval.UnknownItemError as exc:
        raise HTTPException(404, str(exc)) from exc
    except retrieval.NotServedError as exc:
        raise Unprocessable(("query", "target"), str(exc)) from exc
    body = {
        "item_id": item_id,
        "interaction": interaction,
        "target": target,
        "model_version": model.version,
        "neighbors": found,
    }
    return FastJSONResponse(body, headers={"X-Model-Version": model.version})
