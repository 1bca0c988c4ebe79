"""The service tests' fixtures: a HistoryStore on the real Redis (tests/conftest.py starts
it), and the small real model and the app serving it (app_fixtures.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from service.history import HistoryStore

T = TypeVar("T")


Scenario = Callable[[HistoryStore], Awaitable[T]]


@pytest.fixture
def with_store(redis_url: str) -> Callable[..., Any]:
    """Run ``scenario(store)`` in a fresh event loop on a HistoryStore that is closed after.

    Keyword arguments go to ``HistoryStore.from_url``; the timeout defaults to a generous 5 s
    so that only the tests about slowness depend on timing.
    """

    def run(scenario: Scenario[T], **store_kwargs: Any) -> T:
        async def main() -> T:
            store_kwargs.setdefault("timeout_seconds", 5.0)
            store = HistoryStore.from_url(redis_url, **store_kwargs)
            try:
                return await scenario(store)
            finally:
                await store.close()

        return asyncio.run(main())

    return run


from app_fixtures import *  # noqa: E402, F403 (the API tests' model and app fixtures)
