"""The operator's routes, behind ADMIN_TOKEN (off without it, ``service/auth.py``): reload."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from service.deps import RegistryDep
from service.schemas import ReloadOut

router = APIRouter(tags=["admin"])


@router.post(
    "/admin/reload",
    response_model=ReloadOut,
    operation_id="postReload",
    summary="Load the version CURRENT names now",
)
async def reload(registry: RegistryDep) -> ReloadOut:
    """Check CURRENT now and load a new version if there is one (also retries a refused one)."""
    result = await run_in_threadpool(registry.reload, True)
    return ReloadOut(result=result.result, model_version=result.version, detail=result.detail)
