"""Shared fixtures: small real event logs written to disk and read by the real loader, and a
real Redis for the service and client tests, started and stopped by the tests themselves.

Each pytest session (so each pytest-xdist worker) gets its own ``redis-server`` on a free port,
without persistence, in a temporary folder (``demo.redis.EmbeddedRedis``, which the demo and
the serving benchmark start theirs with too). Tests may pause (SIGSTOP), kill and restart it to
exercise failure handling; the ``redis_url`` fixture hands the next test a running, empty server.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import redis

from demo import redis as demo_redis
from demo.redis import EmbeddedRedis
from trainer.config import DataConfig
from trainer.events import EventLog, load_events

Row = Sequence[object]
CANONICAL = ("user_id", "item_id", "interaction", "timestamp", "category_id")


@pytest.fixture
def make_log(tmp_path: Path) -> Callable[..., EventLog]:
    """Write rows (canonical columns unless ``header`` says otherwise) to CSV and load them."""
    counter = iter(range(1_000_000))

    def make(rows: Sequence[Row], header: Sequence[str] = CANONICAL, **data: object) -> EventLog:
        path = tmp_path / f"events-{next(counter)}.csv"
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
        return load_events(path, DataConfig.model_validate(data), progress=False)

    return make


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
