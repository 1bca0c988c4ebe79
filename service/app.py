"""The FastAPI application: wiring only (settings → registry, history store → routes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from service import logs, merge
from service.history import HistoryStore
from service.registry import ModelRegistry
from service.routes import candidates, entities, events, items, ops
from service.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """A ready-to-serve app; the model loads at start-up, then hot-reloads in the background."""
    settings = settings or Settings()
    logs.configure(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = ModelRegistry(
            settings.artifacts_dir,
            settings.ef_search,
            runtime_dir=settings.runtime_dir,
            live_indexes=settings.live_index_names,
        )
        await run_in_threadpool(merge.warm)
        await run_in_threadpool(registry.reload)
        registry.start(settings.reload_interval_seconds)
        store = HistoryStore.from_url(
            settings.redis_url,
            timeout_seconds=settings.redis_timeout_seconds,
            prefix=settings.key_prefix,
            length=settings.history_length,
            ttl_seconds=settings.history_ttl_seconds,
        )
        app.state.settings, app.state.registry, app.state.store = settings, registry, store
        yield
        registry.stop()
        await store.close()

    app = FastAPI(
        title="interaction-candidates",
        summary="Explainable candidates from item-interaction embeddings.",
        version="1",
        lifespan=lifespan,
    )
    app.add_middleware(logs.RequestContext, access_log=settings.access_log)
    for module in (candidates, items, entities, events, ops):
        app.include_router(module.router)
    return app
