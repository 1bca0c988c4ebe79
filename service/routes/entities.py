"""GET /v1/entities/{kind}/{entity_id}/neighbors: what is near a query, a category or a shop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from starlette.convertors import Convertor, register_url_convertor

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
from service.schemas import ENTITY_ID_PATTERN, EntityKind, EntityNeighborsOut, TargetName

router = APIRouter(tags=["entities"], responses=NO_MODEL)


class AnyText(Convertor[str]):
    """Like Starlette's ``path``, but matching line breaks too: an id with a CR or LF must
    reach the id check (a 422 naming the field), not fall through to a 404 for the route."""

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("any_text", AnyText())


@router.get(
    "/v1/entities/{kind}/{entity_id:any_text}/neighbors",
    response_model=EntityNeighborsOut,
    operation_id="getEntityNeighbors",
    summary="Items or entities near a query, a category or a shop",
    responses={
        404: {"description": "The entity is not a token of the served model."},
        422: {
            "description": "Invalid parameters, a version without this entity kind, or a "
            "target whose index this instance does not load (LIVE_INDEXES)."
        },
    },
)
def neighbors(
    request: Request,
    kind: Annotated[EntityKind, Path(description="The seed's kind.")],
    entity_id: Annotated[
        str,
        Path(
            pattern=ENTITY_ID_PATTERN,
            description="The seed: a query (e.g. `red%20shoes`), category or shop id, "
            "URL-encoded; 1 to 256 printable characters.",
        ),
    ],
    model: ModelDep,
    settings: SettingsDep,
    hidden: HiddenDep,
    target: Annotated[
        TargetName,
        Query(description="What to find: an interaction's items or an entity kind's tokens."),
    ] = "view",
    k: Annotated[int, Query(ge=1)] = 50,
) -> FastJSONResponse:
    """The items (interaction target) or entities (kind target) nearest to an entity, best first."""
    reject_unknown_query(request, frozenset({"target", "k"}))
    check_k(settings, k)
    try:
        with tracing.span("neighbors") as span:
            found = entities.entity_neighbors(
                model, kind, entity_id, target, k, metrics.ann_timer, hidden
            )
            if span is not None:  # no entity id: a query is what a user typed
                span.set_attributes({
                    "ic.model_version": model.version, "ic.kind": kind, "ic.target": target,
                    "ic.k": k, "ic.neighbors": len(found),
                })  # fmt: skip
    except entities.UnknownEntityError as exc:
        raise HTTPException(404, str(exc)) from exc
    except retrieval.NotServedError as exc:
        raise Unprocessable(("query", "target"), str(exc)) from exc
    body = {
        "kind": kind,
        "entity_id": entity_id,
        "target": target,
        "model_version": model.version,
        "neighbors": found,
    }
    return FastJSONResponse(body, headers={"X-Model-Version": model.version})
