"""The operator's routes, behind ADMIN_TOKEN (off without it): the reload trigger."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from service.auth import AdminToken
from service.deps import RegistryDep
from service.schemas import ReloadOut

router = APIRouter(
    tags=["admin"],
    dependencies=[AdminToken],
    responses={
        401: {"description": "The request lacks Authorization: Bearer ADMIN_TOKEN."},
        403: {"description": "The admin routes are off: ADMIN_TOKEN is not set."},
    },
)


@router.post("/admin/reload", response_model=ReloadOut)
async def reload(registry: RegistryDep) -> ReloadOut:
    """Check CURRENT now and load a new version if there is one (also retries a refused one)."""
    result = await run_in_threadpool(registry.reload, True)
    return ReloadOut(result=result.result, model_version=result.version, detail=result.detail)
