"""Health, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from service import metrics
from service.deps import RegistryDep, StoreDep
from service.schemas import Ready

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="getHealth", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """The process is alive (no dependency is checked)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Ready,
    responses={503: {"model": Ready}},
    operation_id="getReady",
    summary="Readiness: a model is loaded (and Redis's state)",
)
async def readyz(registry: RegistryDep, store: StoreDep) -> JSONResponse:
    """200 when this instance can answer: a model is loaded. Redis is reported (``redis``,
    and the ``ic_redis_up`` metric) but does not decide: without it the service still answers,
    with the documented degraded popular answer, which beats taking every pod out at once.
    Neither does a canary version: until it loads, its users get the served one."""
    model = registry.model
    redis_ok = await store.ping()
    notes = [] if redis_ok else ["Redis does not answer: candidates are degraded"]
    if model is None:
        why = registry.problem
        notes.insert(0, "not ready: no model loaded" + (f": {why}" if why else ""))
    canary = registry.canary
    if registry.canary_problem is not None:
        notes.append(f"canary {registry.canary_version} not loaded ({registry.canary_problem})")
    body = Ready(
        ready=model is not None,
        model_version=model.version if model else None,
        redis=redis_ok,
        detail="; ".join(notes),
        pinned=registry.pin is not None,
        canary_version=canary.version if canary else None,
        canary_percent=registry.canary_percent if canary else 0.0,
    )
    return JSONResponse(body.model_dump(), status_code=200 if model is not None else 503)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    operation_id="getMetrics",
    summary="Prometheus metrics",
    responses={200: {"content": {"text/plain": {}}, "description": "The Prometheus text format."}},
)
def prometheus() -> Response:
    """Prometheus exposition of every metric."""
    payload, content_type = metrics.render()
    return Response(payload, media_type=content_type)
