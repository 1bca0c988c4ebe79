"""Access: API keys guard /v1 (and /metrics), a token guards /admin, probes stay open."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.auth import matches
from service.settings import Settings

from app_fixtures import make_client

KEY, OTHER = "key-one-0123456789abcdef", "key-two-0123456789abcdef"
ADMIN = "admin-token-0123456789abcdef"
EVENT = {"user_id": "u", "item_id": "i", "interaction": "view"}


@pytest.fixture
def guarded(artifacts_dir, redis_url):
    with make_client(
        artifacts_dir, redis_url, headers={}, api_keys=f"{KEY},{OTHER}", admin_token=ADMIN
    ) as client:
        yield client


def test_without_a_key_v1_routes_and_metrics_are_401_and_nothing_is_written(guarded, raw):
    for response in (
        guarded.get("/v1/users/u/candidates"),
        guarded.get("/v1/items/x/neighbors"),
        guarded.get("/v1/entities/query/x/neighbors"),
        guarded.post("/v1/events", json=EVENT),
        guarded.get("/metrics"),
    ):
        assert response.status_code == 401, response.url
        assert "API key" in response.json()["detail"]
    assert raw.dbsize() == 0


def test_a_wrong_key_is_a_401(guarded):
    for headers in ({"X-API-Key": "nope"}, {"Authorization": f"Bearer {KEY}x"}):
        assert guarded.get("/v1/users/u/candidates", headers=headers).status_code == 401


def test_any_configured_key_works_in_either_header(guarded, raw):
    assert guarded.post("/v1/events", json=EVENT, headers={"X-API-Key": KEY}).status_code == 202
    bearer = {"Authorization": f"Bearer {OTHER}"}
    assert guarded.get("/v1/users/u/candidates", headers=bearer).status_code == 200
    assert guarded.get("/metrics", headers=bearer).status_code == 200


def test_probes_and_the_api_description_stay_open(guarded):
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert guarded.get(path).status_code == 200, path


def test_metrics_open_leaves_only_metrics_unguarded(artifacts_dir, redis_url):
    with make_client(
        artifacts_dir, redis_url, headers={}, api_keys=KEY, metrics_open=True
    ) as client:
        assert client.get("/metrics").status_code == 200
        assert client.get("/v1/users/u/candidates").status_code == 401


def test_admin_needs_the_token_not_an_api_key(guarded):
    assert guarded.post("/admin/reload").status_code == 401
    api_key = {"Authorization": f"Bearer {KEY}"}
    assert guarded.post("/admin/reload", headers=api_key).status_code == 401
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert guarded.post("/admin/reload", headers=admin).json()["result"] == "unchanged"


def test_without_an_admin_token_the_admin_routes_are_off(artifacts_dir, redis_url):
    with make_client(artifacts_dir, redis_url, headers={}, admin_token=None) as client:
        response = client.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 403 and "ADMIN_TOKEN" in response.json()["detail"]


def test_without_api_keys_v1_is_open(client):
    assert client.get("/v1/users/u/candidates").status_code == 200


@pytest.mark.parametrize(
    "setting", [{"api_keys": "short"}, {"admin_token": "has a space inside it"}]
)
def test_weak_keys_stop_the_start(setting):
    with pytest.raises(ValidationError):
        Settings.model_validate(setting)


def test_keys_are_compared_against_every_configured_one():
    assert matches("b" * 20, ("a" * 20, "b" * 20)) and not matches("c", ("a" * 20, "b" * 20))


def test_the_openapi_document_declares_both_schemes(client):
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"apiKey", "http"}
