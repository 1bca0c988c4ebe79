"""The inspector (docs/inspector.md): a page for ML engineers, and the JSON it needs beyond /v1.

``/inspect`` and ``/inspect/static/{name}`` serve the page's own files from
``service/inspector/``, a fixed list (no CDN, no build step). ``/inspect/api/*`` answer from
the served version and Redis (``service/inspection.py``), behind ADMIN_TOKEN
(``service/auth.py``). None of them is in the OpenAPI document: they are a tool for people,
not part of the contract clients are generated from.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from contracts.redis_keys import ID_PATTERN
from service import inspection
from service.deps import ModelDep, RegistryDep, SettingsDep, StoreDep
from service.fastjson import FastJSONResponse
from service.history import HistoryUnavailable
from service.schemas import Id

router = APIRouter(include_in_schema=False)

PAGE = "index.html"
ASSETS = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
"""The page's files besides itself: the only names ``/inspect/static/`` serves."""
MAX_ITEMS = 2000  # two modules of K_MAX (500) with room: one lookup per page answer

STATIC_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
PAGE_HEADERS = STATIC_HEADERS | {
    # Everything from the service itself; plots arrive as blobs (fetched with the token).
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
PRIVATE = {"Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff"}

UserId = Annotated[str, Path(pattern=ID_PATTERN.pattern, description="The user's id.")]


class ItemsQuery(BaseModel):
    """The items whose catalogue facts the page wants (the ones an answer listed)."""

    model_config = ConfigDict(extra="forbid")
    items: list[Id] = Field(max_length=MAX_ITEMS)


@functools.cache
def _file(name: str) -> bytes:
    return (resources.files("service") / "inspector" / name).read_bytes()


@router.get("/inspect")
async def page() -> Response:
    """The inspector page."""
    return Response(_file(PAGE), media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@router.get("/inspect/static/{name}")
async def asset(name: str) -> Response:
    """One of the page's scripts or style sheets."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, "no such inspector file")
    return Response(_file(name), media_type=media_type, headers=STATIC_HEADERS)


@router.get("/inspect/api/version")
async def version(model: ModelDep, registry: RegistryDep) -> FastJSONResponse:
    """The served version: manifest summary, loaded indexes, evaluation headline."""
    summary = await run_in_threadpool(inspection.version_summary, model, registry.artifacts_dir)
    return FastJSONResponse(summary, headers=PRIVATE | {"X-Model-Version": model.version})


@router.get("/inspect/api/evaluation/{name}")
async def evaluation_file(name: str, model: ModelDep, registry: RegistryDep) -> Response:
    """A plot or the report of the served version's evaluation, by its fixed name."""
    try:
        found = await run_in_threadpool(
            inspection.evaluation_file, model, registry.artifacts_dir, name
        )
    except inspection.NoSuchFile:
        known = ", ".join(inspection.EVALUATION_FILES)
        raise HTTPException(
            404, f"the served version has no such evaluation file (one of: {known})"
        ) from None
    headers = PRIVATE | {"X-Model-Version": model.version}
    return Response(found.content, media_type=found.media_type, headers=headers)


@router.post("/inspect/api/items")
async def items(query: ItemsQuery, model: ModelDep) -> FastJSONResponse:
    """What the served model knows of each item: category, pair vectors."""
    facts = inspection.describe_items(model, query.items)
    body = {"model_version": model.version, "items": facts}
    return FastJSONResponse(body, headers=PRIVATE | {"X-Model-Version": model.version})


@router.get("/inspect/api/users/{user_id}/history")
async def history(
    user_id: UserId, model: ModelDep, store: StoreDep, settings: SettingsDep
) -> FastJSONResponse:
    """The user's raw history lists in Redis, newest first, as the model knows each item."""
    try:
        lists = await inspection.user_history(store, model, user_id, settings.history_length)
    except HistoryUnavailable as exc:
        raise HTTPException(503, f"history store unavailable ({exc}); retry") from exc
    return FastJSONResponse(lists, headers=PRIVATE | {"X-Model-Version": model.version})
