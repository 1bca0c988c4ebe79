"""FastAPI dependencies: the objects a route needs, as ``Annotated`` aliases.

They are ``async`` on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a
thread hop per dependency per request (measured: ~1 ms of CPU per candidates request). The
candidates routes, the hot path, read the same objects with ``served`` instead: resolving four
dependencies still costs FastAPI tens of µs of CPU per request (docs/benchmarks.md, "CPU per
request").
"""

from __future__ import annotations

from typing import Annotated, NamedTuple

from fastapi import Depends, HTTPException, Request

from service.errors import Unprocessable
from service.hidden import HiddenItems
from service.history import HistoryStore
from service.model import Model
from service.registry import ModelRegistry
from service.settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


async def get_store(request: Request) -> HistoryStore:
    store: HistoryStore = request.app.state.store
    return store


async def get_hidden(request: Request) -> HiddenItems:
    hidden: HiddenItems = request.app.state.hidden
    return hidden


class Served(NamedTuple):
    """What the app's lifespan put in its state for the routes."""

    settings: Settings
    registry: ModelRegistry
    store: HistoryStore
    hidden: HiddenItems


def served(request: Request) -> Served:
    """The app's settings, registry, store and hidden items, read from its state directly:
    the same objects as the ``…Dep`` aliases, without FastAPI's dependency resolution."""
    state = request.app.state
    return Served(state.settings, state.registry, state.store, state.hidden)


async def get_model(registry: Annotated[ModelRegistry, Depends(get_registry)]) -> Model:
    """The served model, read once for the whole request; 503 until one is loaded."""
    return _loaded(registry.model)


def model_for_user(registry: ModelRegistry, user_id: str) -> Model:
    """The model that answers this user (the canary for its share of users), read once for the
    whole request; 503 until a model is served."""
    return _loaded(registry.model_for(user_id))


def _loaded(model: Model | None) -> Model:
    if model is None:
        raise HTTPException(503, "no model loaded yet: is CURRENT in ARTIFACTS_DIR published?")
    return model


NO_MODEL: dict[int | str, dict[str, object]] = {503: {"description": "No model is loaded yet."}}
"""The answer of every route that needs a model, before the first version is loaded."""


def reject_unknown_query(request: Request, allowed: frozenset[str]) -> None:
    """422 for a query parameter the route does not know (``?n=2`` would otherwise be ignored
    silently and the caller would never learn why it got 100 candidates)."""
    for name in request.query_params:
        if name not in allowed:
            raise Unprocessable(("query", name[:64]), "unknown query parameter", "extra_forbidden")


def check_k(settings: Settings, k: int) -> None:
    """422 when a request asks for more than ``K_MAX`` results: one message for every route."""
    if k > settings.k_max:
        raise Unprocessable(("query", "k"), f"k must be at most {settings.k_max} (K_MAX), got {k}")


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
StoreDep = Annotated[HistoryStore, Depends(get_store)]
ModelDep = Annotated[Model, Depends(get_model)]
HiddenDep = Annotated[HiddenItems, Depends(get_hidden)]
