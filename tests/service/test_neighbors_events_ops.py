"""Neighbours, event ingestion, operations endpoints and the OpenAPI schema."""

from __future__ import annotations

import json
import re

import pytest

from contracts.interactions import Interaction
from contracts.redis_keys import history_key
from service.schemas import NeighborsOut

from app_fixtures import items_with, make_client


def test_neighbors_answer_because_you_x_this_you_may_y_that(client, model):
    item = items_with(model, Interaction.VIEW)[0]
    params = {"interaction": "view", "target": "cart", "k": 5}
    response = client.get(f"/v1/items/{item}/neighbors", params=params)
    assert response.status_code == 200
    body = response.json()
    NeighborsOut.model_validate(body)
    assert response.headers["X-Model-Version"] == body["model_version"] == model.version
    assert 0 < len(body["neighbors"]) <= 5
    assert item not in {n["item_id"] for n in body["neighbors"]}
    assert {n["interaction"] for n in body["neighbors"]} == {"cart"}
    scores = [n["score"] for n in body["neighbors"]]
    assert scores == sorted(scores, reverse=True)


def test_neighbors_of_an_unknown_item_are_a_404(client):
    response = client.get("/v1/items/no-such-item/neighbors")
    assert response.status_code == 404 and "no-such-item" in response.json()["detail"]


@pytest.mark.parametrize("params", [{"interaction": "like"}, {"target": "x"}, {"k": 0}, {"k": 501}])
def test_neighbors_parameters_are_validated(client, model, params):
    item = items_with(model, Interaction.VIEW)[0]
    assert client.get(f"/v1/items/{item}/neighbors", params=params).status_code == 422


def test_events_update_the_redis_history_as_the_contract_says(client, raw):
    events = [
        {"user_id": "u9", "item_id": "a", "interaction": "view", "timestamp": 3},
        {"user_id": "u9", "item_id": "b", "interaction": "view", "timestamp": 1},
        {"user_id": "u9", "item_id": "a", "interaction": "cart", "timestamp": 2},
    ]
    response = client.post("/v1/events", json={"events": events})
    assert response.status_code == 202 and response.json() == {"accepted": 3}
    assert raw.lrange(history_key("ic", "u9", Interaction.VIEW), 0, -1) == [b"a", b"b"]
    assert raw.lrange(history_key("ic", "u9", Interaction.CART), 0, -1) == [b"a"]
    assert raw.ttl(history_key("ic", "u9", Interaction.VIEW)) > 29 * 86400


def test_a_single_event_is_accepted_too(client, raw):
    one = {"user_id": "u8", "item_id": "z", "interaction": "purchase"}
    assert client.post("/v1/events", json=one).status_code == 202
    assert raw.lrange(history_key("ic", "u8", Interaction.PURCHASE), 0, -1) == [b"z"]


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": "u", "item_id": "i", "interaction": "teleport"},
        {"user_id": "u u", "item_id": "i", "interaction": "view"},
        {"user_id": "u", "interaction": "view"},
        {"user_id": "u", "item_id": "i", "interaction": "view", "extra": 1},
        {"user_id": "u", "item_id": "i", "interaction": "view", "category_id": "c 1"},
        {"events": []},
        {"events": [{"user_id": "u", "item_id": "i", "interaction": "view"}] * 1001},
    ],
)
def test_invalid_events_are_refused_with_a_422_and_nothing_is_written(client, raw, body):
    response = client.post("/v1/events", json=body)
    assert response.status_code == 422
    assert raw.dbsize() == 0


def test_metrics_expose_the_documented_names(client, model):
    client.get("/v1/users/anyone/candidates")
    text = client.get("/metrics").text
    for name in (
        "ic_http_request_duration_seconds_bucket",
        "ic_redis_duration_seconds_bucket",
        "ic_candidates_returned_bucket",
        "ic_fallbacks_total",
        "ic_reloads_total",
        "ic_model_info",
        "ic_model_created_timestamp_seconds",
        "ic_index_items",
    ):
        assert name in text, name
    assert f'ic_model_info{{version="{model.version}"}} 1.0' in text
    assert 'route="/v1/users/{user_id}/candidates"' in text


def test_every_response_carries_a_request_id(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32


@pytest.mark.parametrize("access_log", [True, False])
def test_access_lines_are_json_with_the_request_id_unless_switched_off(
    artifacts_dir, redis_url, capsys, access_log
):
    with make_client(artifacts_dir, redis_url, access_log=access_log) as client:
        capsys.readouterr()
        client.get("/healthz", headers={"X-Request-ID": "trace-42"})
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    access = [x for x in lines if x["logger"] == "service.access"]
    if access_log:
        assert [(x["route"], x["status"], x["request_id"]) for x in access] == [
            ("/healthz", 200, "trace-42")
        ]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", access[0]["time"])
    else:
        assert access == []


def test_the_openapi_schema_documents_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/users/{user_id}/candidates", "/v1/items/{item_id}/neighbors",
                 "/v1/entities/{kind}/{entity_id}/neighbors",
                 "/v1/events", "/healthz", "/readyz", "/metrics", "/admin/reload"):  # fmt: skip
        assert path in paths


def test_a_late_event_does_not_become_the_newest_seed(client, raw):
    newer = {"user_id": "u7", "item_id": "now", "interaction": "view", "timestamp": 2_000}
    late = {"user_id": "u7", "item_id": "late", "interaction": "view", "timestamp": 1_000}
    for event in (newer, late):
        assert client.post("/v1/events", json=event).status_code == 202
    assert raw.lrange(history_key("ic", "u7", Interaction.VIEW), 0, -1) == [b"now", b"late"]
