"""The FastAPI application: wiring only (settings → registry, history store → routes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from service import errors, logs, merge, runtime_monitor, tracing
from service.auth import Access, openapi_security
from service.hidden import HiddenItems
from service.history import HistoryStore
from service.limits import BodyLimit
from service.registry import ModelRegistry
from service.routes import admin, candidates, entities, events, inspect, items, ops
from service.schemas import events_body_schema
from service.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """A ready-to-serve app; the model loads at start-up, then hot-reloads in the background."""
    settings = settings or Settings()
    logs.configure(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tracing.start(settings)  # this worker's span exporter, when an OTLP endpoint is set
        runtime_monitor.GC_PAUSES.install()  # GC pauses and loop lag: service/runtime_monitor.py
        collector = runtime_monitor.GarbageCollector(settings.gc_freeze, settings.gc_threshold0)
        registry = ModelRegistry(
            settings.artifacts_dir,
            settings.ef_search,
            runtime_dir=settings.runtime_dir,
            live_indexes=settings.live_index_names,
            cache_dir=settings.artifacts_cache_dir,
            jitter_seconds=settings.reload_jitter_seconds,
            pin=settings.pin_version,
            canary_version=settings.canary_version,
            canary_percent=settings.canary_percent,
            after_load=collector.freeze,
        )
        await run_in_threadpool(merge.warm)
        await run_in_threadpool(registry.reload)
        registry.start(settings.reload_interval_seconds)
        store = HistoryStore.from_url(
            settings.redis_url,
            timeout_seconds=settings.redis_timeout_seconds,
            max_connections=settings.redis_max_connections,
            prefix=settings.key_prefix,
            length=settings.history_length,
            ttl_seconds=settings.history_ttl_seconds,
            cluster=settings.redis_cluster,
            key_format=settings.redis_key_format,
        )
        await store.open_connections(settings.redis_warm_connections)
        await run_in_threadpool(registry.wait_while_peers_serve)
        hidden = HiddenItems()
        refresh = asyncio.create_task(hidden.keep_fresh(store))
        app.state.settings, app.state.registry, app.state.store = settings, registry, store
        app.state.hidden = hidden
        collector.start()  # thresholds, and the first freeze: imports, app, model, pools
        lag = asyncio.create_task(runtime_monitor.watch_loop_lag())
        yield
        refresh.cancel()
        lag.cancel()
        registry.stop()
        collector.stop()
        runtime_monitor.GC_PAUSES.remove()
        await store.close()
        tracing.stop()

    app = FastAPIOffline(  # /docs and /redoc work without the internet: no CDN
        title="interaction-candidates",
        summary="Explainable candidates from item-interaction embeddings.",
        version="1",
        lifespan=lifespan,
    )
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, timeout_seconds=settings.body_timeout_seconds
    )
    app.add_middleware(Access, settings=settings)  # before the body is read
    app.add_middleware(logs.RequestContext, access_log=settings.access_log)  # ids, access log
    tracing.install(app, settings)  # the request's span, around even the access log (when on)
    errors.install(app)
    for module in (candidates, items, entities, events, ops, admin, inspect):
        app.include_router(module.router)
    app.openapi = lambda: _openapi(app, settings)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """FastAPI's document, plus what routes that parse their own input declare by hand: the
    events body (its batch limit is this instance's EVENTS_BATCH_MAX)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        body, definitions = events_body_schema(settings.events_batch_max)
        post_events = schema["paths"]["/v1/events"]["post"]
        post_events["requestBody"] = body
        post_events["responses"]["422"] = {
            "description": "Not events, or more than EVENTS_BATCH_MAX of them.",
            "content": {"application/json": {"schema": {"$ref": VALIDATION_ERROR}}},
        }
        _set_limits(schema, settings)
        _set_query_limits(schema["components"]["schemas"]["CandidatesQuery"], settings)
        openapi_security(schema, settings)
        schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions)
        app.openapi_schema = schema
    return app.openapi_schema


VALIDATION_ERROR = "#/components/schemas/HTTPValidationError"
K_NAMES = ("k", "k_viewed", "k_carted")


def _set_query_limits(query: dict[str, Any], settings: Settings) -> None:
    """The POST's body: K_MAX for its sizes, EXCLUDE_MAX_BODY for its exclude list."""
    for name, field in query["properties"].items():
        _cap(name, field, settings.k_max, settings.exclude_max_body)


def _set_limits(schema: dict[str, Any], settings: Settings) -> None:
    """This instance's K_MAX and EXCLUDE_MAX as the maxima of every ``k`` and ``exclude``."""
    for operations in schema["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                _cap(parameter["name"], parameter["schema"], settings.k_max, settings.exclude_max)


def _cap(name: str, field: dict[str, Any], k_max: int, exclude_max: int) -> None:
    """A size field's maximum, an exclude list's longest length (in any ``anyOf`` option)."""
    for option in field.get("anyOf", [field]):
        if name in K_NAMES and option.get("type") == "integer":
            option["maximum"] = k_max
        if name == "exclude" and option.get("type") == "array":
            option["maxItems"] = exclude_max
