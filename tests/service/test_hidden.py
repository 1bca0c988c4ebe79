"""Hidden items (out of stock, delisted) never come back from any route, without retraining."""

from __future__ import annotations

from contracts.interactions import Interaction
from contracts.redis_keys import hidden_keys

from app_fixtures import items_with

VIEW, CART = Interaction.VIEW, Interaction.CART


def candidate_ids(client, user, **params):
    body = client.get(f"/v1/users/{user}/candidates", params={"k": 30, **params}).json()
    return {c["item_id"] for m in body["modules"] for c in m["candidates"]}


def hide(client, *items, show=()):
    response = client.post("/admin/hidden", json={"hide": list(items), "show": list(show)})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_hidden_item_leaves_every_module_and_comes_back_when_shown(client, model):
    seeds = items_with(model, VIEW)[:3]
    events = [{"user_id": "ida", "item_id": i, "interaction": "view"} for i in seeds]
    assert client.post("/v1/events", json=events).status_code == 202
    before = candidate_ids(client, "ida")
    gone = sorted(before)[:5]
    assert hide(client, *gone)["hidden"] == 5
    after = candidate_ids(client, "ida")
    assert not after & set(gone) and len(after) >= len(before) - 5
    hide(client, show=gone)
    assert candidate_ids(client, "ida") == before


def test_hidden_items_leave_the_neighbour_routes_and_the_cold_start_fallback(client, model):
    item = items_with(model, VIEW, CART)[0]
    url = f"/v1/items/{item}/neighbors"
    neighbours = [
        n["item_id"] for n in client.get(url, params={"target": "cart"}).json()["neighbors"]
    ]
    popular = candidate_ids(client, "nobody")
    hide(client, neighbours[0], sorted(popular)[0])
    again = [n["item_id"] for n in client.get(url, params={"target": "cart"}).json()["neighbors"]]
    assert neighbours[0] not in again
    assert sorted(popular)[0] not in candidate_ids(client, "nobody")


def test_a_set_written_upstream_is_read_when_its_counter_moves(client, model, raw):
    popular = sorted(candidate_ids(client, "nobody"))
    key, version = hidden_keys("ic")
    raw.sadd(key, popular[0])
    assert popular[0] in candidate_ids(client, "nobody")  # the counter did not move yet
    raw.incr(version)
    assert popular[0] not in candidate_ids(client, "nobody")


def test_hiding_needs_the_admin_token_and_checks_ids(client):
    assert (
        client.post(
            "/admin/hidden", json={"hide": ["a"]}, headers={"Authorization": ""}
        ).status_code
        == 401
    )
    assert client.post("/admin/hidden", json={"hide": ["not ok"]}).status_code == 422
