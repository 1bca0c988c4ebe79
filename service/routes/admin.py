"""The operator's routes, behind ADMIN_TOKEN (off without it, ``service/auth.py``): reload, and
hiding items."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool

from service.deps import HiddenDep, RegistryDep, StoreDep
from service.history import HistoryUnavailable
from service.schemas import HiddenChange, HiddenOut, ReloadOut

router = APIRouter(tags=["admin"])


@router.post(
    "/admin/reload",
    response_model=ReloadOut,
    operation_id="postReload",
    summary="Load the version CURRENT names now",
)
async def reload(registry: RegistryDep) -> ReloadOut:
    """Check CURRENT now and load a new version if there is one (also retries a refused one,
    and a canary not loaded)."""
    result = await run_in_threadpool(registry.reload, True)
    return ReloadOut(
        result=result.result,
        model_version=result.version,
        detail=result.detail,
        canary_version=result.canary,
    )


@router.post(
    "/admin/hidden",
    response_model=HiddenOut,
    operation_id="postHidden",
    summary="Hide items from every answer, or show them again",
    responses={
        400: {"description": "The body is not JSON."},
        503: {"description": "Redis is unavailable; retry (the change is idempotent)."},
    },
)
async def change_hidden(change: HiddenChange, store: StoreDep, hidden: HiddenDep) -> HiddenOut:
    """Hide ``hide`` and show ``show`` (out of stock, delisted, back again), for every worker
    and pod within seconds, without retraining."""
    try:
        count, version = await store.change_hidden(change.hide, change.show)
        await hidden.update(store, version)
    except HistoryUnavailable as exc:
        raise HTTPException(503, f"history store unavailable ({exc}); retry") from exc
    return HiddenOut(hidden=count, version=version)
