"""Redis paused or killed: fast degraded 200s, readiness off, and recovery afterwards."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contracts.interactions import Interaction

from app_fixtures import items_with, make_client


@pytest.fixture
def client(artifacts_dir: Path, redis_url: str) -> Iterator[TestClient]:
    """A client whose Redis calls give up after 100 ms, so a stalled Redis is noticed fast."""
    with make_client(artifacts_dir, redis_url, redis_timeout_ms=100) as c:
        yield c


def timed_get(client, path):
    started = time.perf_counter()
    response = client.get(path)
    return response, time.perf_counter() - started


def test_a_paused_redis_gives_a_fast_degraded_popular_answer_then_recovers(
    client, model, redis_server
):
    item = items_with(model, Interaction.VIEW)[0]
    event = {"user_id": "u1", "item_id": item, "interaction": "view"}
    assert client.post("/v1/events", json=event).status_code == 202
    redis_server.pause()
    try:
        for _ in range(3):
            response, seconds = timed_get(client, "/v1/users/u1/candidates")
            assert response.status_code == 200
            assert response.json()["degraded"] is True
            assert response.json()["fallback"] == "popular"
            assert seconds < 1.0
        assert client.get("/readyz").status_code == 503
        assert client.post("/v1/events", json=event).status_code == 503
    finally:
        redis_server.resume()
    body = client.get("/v1/users/u1/candidates").json()
    assert body["degraded"] is False and body["fallback"] is None
    assert client.get("/readyz").status_code == 200


def test_a_killed_redis_degrades_and_a_restarted_one_is_used_again(client, model, redis_server):
    redis_server.kill()
    response, seconds = timed_get(client, "/v1/users/u2/candidates")
    assert response.status_code == 200 and response.json()["degraded"] is True
    assert seconds < 1.0
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
    assert 'ic_fallbacks_total{reason="redis"}' in text
