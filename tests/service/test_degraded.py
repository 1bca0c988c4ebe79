"""Redis paused, killed or restarted: fast degraded 200s, readiness kept (a model is loaded),
Redis's state in /readyz's body and in ic_redis_up, and recovery without a failed answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contracts.interactions import Interaction
from service.history import HistoryStore

from app_fixtures import items_with, make_client


@pytest.fixture
def client(artifacts_dir: Path, redis_url: str) -> Iterator[TestClient]:
    """A client whose Redis calls give up after 100 ms, so a stalled Redis is noticed fast."""
    with make_client(artifacts_dir, redis_url, redis_timeout_ms=100) as c:
        yield c


def test_a_paused_redis_gives_a_fast_degraded_popular_answer_then_recovers(
    client, model, redis_server
):
    item = items_with(model, Interaction.VIEW)[0]
    event = {"user_id": "u1", "item_id": item, "interaction": "view"}
    assert client.post("/v1/events", json=event).status_code == 202
    redis_server.pause()
    try:
        for _ in range(3):  # each answered because the 100 ms timeout ended the wait
            response = client.get("/v1/users/u1/candidates")
            assert response.status_code == 200
            assert response.json()["degraded"] is True
            assert response.json()["fallback"] == "popular"
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["redis"] is False
        assert "ic_redis_up 0.0" in client.get("/metrics").text
        assert client.post("/v1/events", json=event).status_code == 503
    finally:
        redis_server.resume()
    body = client.get("/v1/users/u1/candidates").json()
    assert body["degraded"] is False and body["fallback"] is None
    assert client.get("/readyz").json() | {"model_version": None} == {
        "ready": True,
        "model_version": None,
        "redis": True,
        "detail": "",
        "pinned": False,
        "canary_version": None,
        "canary_percent": 0.0,
    }
    assert "ic_redis_up 1.0" in client.get("/metrics").text


def test_a_killed_redis_degrades_and_a_restarted_one_is_used_again(client, model, redis_server):
    redis_server.kill()
    response = client.get("/v1/users/u2/candidates")
    assert response.status_code == 200 and response.json()["degraded"] is True
    redis_server.restart()
    response = client.get("/v1/users/u2/candidates")
    assert response.status_code == 200 and response.json()["degraded"] is False


def test_degraded_answers_are_counted_in_metrics(client, redis_server):
    redis_server.pause()
    try:
        client.get("/v1/users/u3/candidates")
    finally:
        redis_server.resume()
    text = client.get("/metrics").text
    assert "ic_degraded_total" in text
    assert 'ic_fallbacks_total{reason="redis",version=' in text


def test_a_restarted_redis_costs_no_read(redis_url, redis_server):
    """Every pooled connection dies with the server; each is retried once on a fresh one."""

    async def burst() -> list[object]:
        store = HistoryStore.from_url(redis_url, timeout_seconds=1.0)
        try:
            assert await store.open_connections(40) == 40
            redis_server.restart()
            reads = (store.read("u4") for _ in range(40))
            return await asyncio.gather(*reads, return_exceptions=True)
        finally:
            await store.close()

    failed = [r for r in asyncio.run(burst()) if isinstance(r, Exception)]
    assert failed == []


def test_readiness_stays_with_redis_down_and_says_so(client, redis_server):
    redis_server.kill()
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["redis"] is False and "degraded" in ready.json()["detail"]


def test_the_pool_is_open_before_the_app_serves(artifacts_dir, redis_url, raw):
    before = len(raw.client_list())
    with make_client(artifacts_dir, redis_url, redis_warm_connections=12):
        assert len(raw.client_list()) - before >= 12
