"""A real Redis for the service tests, started and stopped by the tests themselves.

Each pytest session (so each pytest-xdist worker) gets its own ``redis-server`` on a free port,
without persistence, in a temporary folder (``demo.redis.EmbeddedRedis``, which the demo and
the serving benchmark start theirs with too). Tests may pause (SIGSTOP), kill and restart it to
exercise failure handling; the ``redis_url`` fixture hands the next test a running, empty server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
import redis

from demo import redis as demo_redis
from demo.redis import EmbeddedRedis
from service.history import HistoryStore

T = TypeVar("T")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """This session's (or xdist worker's) own redis-server, stopped at the end whatever happened."""
    try:
        server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    except demo_redis.RedisUnavailable as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    """The URL of a running, empty Redis (FLUSHALL before each test)."""
    redis_server.ensure_running()
    with redis.Redis.from_url(redis_server.url, socket_timeout=2) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain synchronous client: plays the upstream writer and inspects what was stored."""
    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    try:
        yield client
    finally:
        client.close()


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
