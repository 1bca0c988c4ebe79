"""Bad input gets a short 4xx naming the field, never a 5xx and never the input echoed back;
limits on bodies, heads and batches hold on the real HTTP server (issue 12, items 1, 2, 9)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from contracts.interactions import Interaction
from contracts.redis_keys import history_key

from app_fixtures import make_client, problems
from running import Running, running_service

EVENT = b'{"user_id": "u", "item_id": "i", "interaction": "view", "timestamp": %s}'


def post(client: TestClient, body: bytes):
    return client.post("/v1/events", content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    "timestamp", [b"NaN", b"-Infinity", b"Infinity", b"1e309", b"false", b'"123"', b"1.7e12"]
)
def test_a_timestamp_that_is_not_finite_unix_seconds_or_iso_8601_is_refused(client, raw, timestamp):
    response = post(client, EVENT % timestamp)
    assert response.status_code in (400, 422), response.text
    if response.status_code == 422:
        assert problems(response).startswith("body.timestamp: ")
    assert raw.dbsize() == 0


def test_iso_8601_timestamps_are_accepted_and_order_the_batch(client, raw):
    events = [
        {"user_id": "u", "item_id": "late", "interaction": "view", "timestamp": "2026-01-02T00:00"},
        {"user_id": "u", "item_id": "early", "interaction": "view", "timestamp": 1767225600},
    ]
    assert client.post("/v1/events", json={"events": events}).status_code == 202
    assert raw.lrange(history_key("ic", "u", Interaction.VIEW), 0, -1) == [b"late", b"early"]


def test_a_lone_surrogate_in_an_id_is_a_400_not_a_500(client, raw):
    response = post(client, b'{"user_id": "u\\ud800", "item_id": "i", "interaction": "view"}')
    assert response.status_code == 400 and "JSON" in response.json()["detail"]
    assert raw.dbsize() == 0


def test_a_body_that_is_not_json_is_a_documented_400(client):
    response = post(client, b"{not json")
    assert response.status_code == 400
    assert "400" in client.get("/openapi.json").json()["paths"]["/v1/events"]["post"]["responses"]


def test_a_422_never_echoes_the_input(client):
    huge = "x" * 500_000  # under the body limit, far over the id rule
    response = client.post(
        "/v1/events", json={"user_id": huge, "item_id": "i", "interaction": "view", huge: 1}
    )
    assert problems(response) and len(response.content) < 2_000
    assert huge[:1000] not in response.text


def test_a_body_over_the_limit_is_a_413_before_it_is_parsed(artifacts_dir, redis_url, raw):
    with make_client(artifacts_dir, redis_url, max_body_bytes=4096) as client:
        event = {"user_id": "u", "item_id": "i" * 100, "interaction": "view"}
        response = client.post("/v1/events", json=[event] * 100)
    assert response.status_code == 413 and "MAX_BODY_BYTES" in response.json()["detail"]
    assert raw.dbsize() == 0


def test_a_bare_json_array_is_a_batch_too(client, raw):
    events = [{"user_id": "u", "item_id": item, "interaction": "cart"} for item in "ab"]
    assert client.post("/v1/events", json=events).json() == {"accepted": 2}
    assert raw.lrange(history_key("ic", "u", Interaction.CART), 0, -1) == [b"b", b"a"]


def test_the_batch_limit_is_checked_before_the_events_and_is_the_schemas(
    artifacts_dir, redis_url, raw
):
    with make_client(artifacts_dir, redis_url, events_batch_max=7) as client:
        schema = client.get("/openapi.json").json()
        bad = [{"user_id": "u", "item_id": "not ok", "interaction": "view"}] * 8
        response = client.post("/v1/events", json={"events": bad})
    assert "EVENTS_BATCH_MAX" in problems(response) and "pattern" not in problems(response)
    assert schema["components"]["schemas"]["EventBatchIn"]["properties"]["events"]["maxItems"] == 7
    assert raw.dbsize() == 0


def test_many_bad_events_answer_with_a_few_bounded_problems(client):
    bad = [{"user_id": "u", "item_id": "not ok", "interaction": "view"}] * 1000
    response = client.post("/v1/events", json=bad)
    assert 1 < problems(response).count("\n") <= 11 and len(response.content) < 4_000


def test_every_422_has_the_schemas_shape_and_k_and_exclude_show_their_maxima(client):
    schema = client.get("/openapi.json").json()
    parameters = schema["paths"]["/v1/users/{user_id}/candidates"]["get"]["parameters"]
    found = {p["name"]: p["schema"].get("anyOf", [p["schema"]])[0] for p in parameters}
    assert found["k"]["maximum"] == 500 and found["exclude"]["maxItems"] == 500
    for url in (
        "/v1/users/u/candidates?k=501",
        "/v1/users/u/candidates?" + "&".join(f"exclude=i{n}" for n in range(501)),
        "/v1/items/x/neighbors?k=501",
        "/v1/entities/query/a%0D%0Ab/neighbors",
    ):
        assert problems(client.get(url))


# The real HTTP server: what the protocol and the body limit do before the app sees a request.


@pytest.fixture(scope="module")
def server(trained, redis_server, tmp_path_factory) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp("limits")
    limits = {"BODY_TIMEOUT_SECONDS": "1", "MAX_HEAD_BYTES": "65536", "MAX_HEADERS": "50"}
    redis_server.ensure_running()
    with running_service(trained.root, redis_server.url, folder, **limits) as running:
        yield running


def exchange(server: Running, request: bytes, pause: float = 0.0) -> bytes:
    """Send ``request`` (then wait ``pause`` s) and read until the server closes or 30 s pass."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(request)  # a refusal mid-send leaves the answer waiting
        time.sleep(pause)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
        return answer


def test_a_huge_header_is_a_431_and_the_connection_closes(server):
    answer = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 1_000_000)
    assert answer.startswith(b"HTTP/1.1 431") and b"MAX_HEAD_BYTES" in answer


def test_ten_thousand_headers_are_a_431(server):
    headers = b"".join(b"X-H%d: v\r\n" % n for n in range(10_000))
    answer = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431") and b"MAX_HEADERS" in answer


def test_a_body_announced_too_large_is_refused_at_once(server):
    head = b"POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    answer = exchange(server, head + b"Content-Length: 10000000000\r\n\r\n{")
    assert answer.startswith(b"HTTP/1.1 413") and b"MAX_BODY_BYTES" in answer


def test_a_body_that_never_arrives_is_a_408_after_the_body_timeout(server):
    head = b"POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    answer = exchange(server, head + b"Content-Length: 100\r\n\r\n{")
    assert answer.startswith(b"HTTP/1.1 408")


def test_an_over_long_exclude_list_gets_the_apps_message(server):
    query = "&".join(f"exclude=item-{n:06d}" for n in range(600))
    answer = exchange(server, f"GET /v1/users/u/candidates?{query} HTTP/1.1\r\nHost: t\r\n".encode()
                      + b"Connection: close\r\n\r\n")  # fmt: skip
    assert answer.startswith(b"HTTP/1.1 422") and b"EXCLUDE_MAX" in answer


def test_the_server_still_answers_after_all_that(server):
    answer = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")
