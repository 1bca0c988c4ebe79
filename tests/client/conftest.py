"""The client's tests talk to the real service: ``python -m service`` on a small real model
with entity tokens, and the session's real Redis (tests/conftest.py). The model and the way the
service is started are the service tests' own (tests/service: ``app_fixtures.py``,
``running.py``), imported from there rather than copied.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from client import AsyncCandidatesClient, CandidatesClient, Retry
from demo.redis import EmbeddedRedis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))  # as its conftest does

import app_fixtures
from app_fixtures import ADMIN_TOKEN, Trained
from running import running_service

entity_trained = app_fixtures.entity_trained  # the service tests' fixture: trained once for both

API_KEY = "client-test-key-0123456789"
QUICK = Retry(attempts=3, backoff=0.05, max_backoff=0.2)


@dataclass(frozen=True)
class Served:
    """The service under test: where it answers and its secrets (API_KEYS, ADMIN_TOKEN)."""

    url: str
    api_key: str
    admin_token: str


@dataclass(frozen=True)
class World:
    """What the synthetic world's event log says about its catalogue (the client sees ids
    only): each item's category, and the search queries users typed."""

    category: dict[str, str]
    queries: list[str]


@pytest.fixture(scope="package")
def service(
    entity_trained: Trained, redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One service for all the client's tests, on a version with item and entity tokens, with
    API keys and the admin routes on. A generous Redis timeout: a machine busy training in the
    other test worker must not turn an answer into a degraded one."""
    redis_server.ensure_running()
    folder = tmp_path_factory.mktemp("client-service")
    access = {"API_KEYS": API_KEY, "ADMIN_TOKEN": ADMIN_TOKEN, "REDIS_TIMEOUT_MS": "1000"}
    with running_service(entity_trained.root, redis_server.url, folder, **access) as running:
        yield Served(running.url, API_KEY, ADMIN_TOKEN)


@pytest.fixture(scope="package")
def world(entity_trained: Trained) -> World:
    category: dict[str, str] = {}
    queries: set[str] = set()
    with open(entity_trained.events, newline="") as f:
        for row in csv.DictReader(f):
            category[row["item_id"]] = row["category_id"]
            if row.get("query"):
                queries.add(row["query"])
    return World(category, sorted(queries))


@pytest.fixture
def api(service: Served, redis_url: str) -> Iterator[CandidatesClient]:
    """A client with the API key and the admin token, on an empty Redis."""
    with CandidatesClient(
        service.url, api_key=service.api_key, admin_token=service.admin_token, retry=QUICK
    ) as client:
        yield client


@pytest.fixture
def async_api(service: Served, redis_url: str) -> AsyncCandidatesClient:
    """The async client with the same options; each test opens and closes it in its loop."""
    return AsyncCandidatesClient(
        service.url, api_key=service.api_key, admin_token=service.admin_token, retry=QUICK
    )
