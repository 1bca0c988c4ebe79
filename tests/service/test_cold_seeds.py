"""Cold seeds: a history item the model does not know seeds its module from its category's vector.

The item's category comes from the public hash ``{prefix}:item_category``, written by
``POST /v1/events`` (an event's ``category_id``) or by upstream systems.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
import redis

from contracts.interactions import Interaction
from contracts.redis_keys import item_category_key
from service import retrieval
from service.schemas import CandidatesOut

from app_fixtures import items_with, make_client

VIEW, CART = Interaction.VIEW, Interaction.CART
MODULE_OF = {"view": "viewed", "cart": "carted"}


def post(client, user, events):
    """``events``: (item, interaction) or (item, interaction, category) tuples, oldest first."""
    keys = ("item_id", "interaction", "category_id")
    body = {"events": [{"user_id": user, **dict(zip(keys, e, strict=False))} for e in events]}
    response = client.post("/v1/events", json=body)
    assert response.status_code == 202, response.text


def module_of(client, user, name, k=10) -> dict:
    body = client.get(f"/v1/users/{user}/candidates", params={"k": k}).json()
    CandidatesOut.model_validate(body)
    return next(m for m in body["modules"] if m["name"] == name)


def a_category(model) -> str:
    return model.item_category[model.item_row[items_with(model, VIEW)[0]]]


def category_row(model, target: str, category: str) -> list[str]:
    """The items of ``category``'s row of the version's cold>target table, best first."""
    rows, _ = model.tables[("cold", target)].lookup(np.array([model.cold_row[category]]))
    return [model.item_ids[r] for r in rows[0] if r >= 0]


@pytest.mark.parametrize("interaction", ["view", "cart"])
def test_an_unknown_item_with_a_known_category_seeds_from_its_categorys_row(
    client, model, interaction
):
    category = a_category(model)
    post(client, "cody", [("brand-new", interaction, category)])
    module = module_of(client, "cody", MODULE_OF[interaction])
    assert module["seeds"] == ["brand-new"] and module["unknown_seeds"] == []
    candidates = module["candidates"]
    assert [c["item_id"] for c in candidates] == category_row(model, interaction, category)[:10]
    for c in candidates:
        assert c["embedding"] == "category" and c["interaction"] == interaction
        assert c["because"] == {
            "reason": "seed", "item_id": "brand-new", "interaction": interaction,
            "category_id": category,
        }  # fmt: skip


def test_a_category_written_upstream_makes_a_cold_seed_too(client, model, raw):
    raw.hset(item_category_key("ic"), "upstream-item", a_category(model))
    post(client, "uma", [("upstream-item", "view")])
    assert module_of(client, "uma", "viewed")["seeds"] == ["upstream-item"]


def test_an_unknown_item_without_a_category_of_the_version_stays_unknown(client, model):
    known = items_with(model, VIEW)[0]
    post(client, "ned", [(known, "view"), ("no-category", "view"), ("odd-category", "view", "c9")])
    viewed = module_of(client, "ned", "viewed")
    assert viewed["seeds"] == [known]
    assert viewed["unknown_seeds"] == ["odd-category", "no-category"]


def test_a_cold_seed_shares_the_module_fairly_with_known_seeds(client, model):
    known = items_with(model, VIEW)[1]
    post(client, "fran", [(known, "view"), ("fresh", "view", a_category(model))])
    viewed = module_of(client, "fran", "viewed", k=8)
    assert viewed["seeds"] == ["fresh", known]
    assert Counter(c["because"]["item_id"] for c in viewed["candidates"]) == {known: 4, "fresh": 4}
    assert {c["embedding"] for c in viewed["candidates"]} == {"category", "item-interaction"}


def test_an_events_category_is_written_to_the_public_hash(client, raw):
    event = {"user_id": "u1", "item_id": "i-77", "interaction": "view", "category_id": "c-3"}
    assert client.post("/v1/events", json=event).status_code == 202
    assert raw.hgetall(item_category_key("ic")) == {b"i-77": b"c-3"}
    assert raw.lrange("ic:u:u1:view", 0, -1) == [b"i-77"]


def hmget_calls(raw: redis.Redis) -> int:
    return int(raw.info("commandstats").get("cmdstat_hmget", {}).get("calls", 0))


def test_the_category_hash_is_read_once_and_only_when_a_seed_is_unknown(client, model, raw):
    known = items_with(model, VIEW)[:2]
    post(client, "kim", [(known[0], "view"), (known[1], "cart")])
    post(client, "lou", [("new-a", "view"), ("new-b", "cart"), (known[0], "view")])
    before = hmget_calls(raw)
    client.get("/v1/users/kim/candidates")
    assert hmget_calls(raw) == before
    client.get("/v1/users/lou/candidates")
    assert hmget_calls(raw) == before + 1


@pytest.fixture
def no_hmget_url(redis_url: str, raw: redis.Redis) -> Iterator[str]:
    """A Redis user that may do everything but HMGET: the category read fails, nothing else."""
    raw.acl_setuser("no-hmget", enabled=True, nopass=True, keys="*", commands=["+@all", "-hmget"])
    try:
        yield redis_url.replace("redis://", "redis://no-hmget:x@")
    finally:
        raw.acl_deluser("no-hmget")


def test_a_failed_category_read_degrades_like_a_failed_history_read(
    artifacts_dir, no_hmget_url, model
):
    with make_client(artifacts_dir, no_hmget_url) as client:
        post(client, "vic", [(items_with(model, VIEW)[0], "view"), ("new-c", "view")])
        body = client.get("/v1/users/vic/candidates").json()
        assert body["degraded"] is True and body["fallback"] == "popular"
        assert 'ic_redis_errors_total{operation="categories"}' in client.get("/metrics").text


def test_a_cold_seed_deeper_than_its_table_is_answered_by_the_live_index(model):
    category = a_category(model)
    k = model.tables[("cold", "view")].k + 10
    found = retrieval.module(model, ["new"], VIEW, [VIEW], k, [], categories={"new": category})
    assert len(found.candidates) == k and found.seeds == ["new"]
    assert {c.embedding for c in found.candidates} == {"category"}


def test_without_its_table_a_cold_seed_is_searched_with_its_category_vector(model):
    category = a_category(model)
    without = replace(model, tables={k: t for k, t in model.tables.items() if k[0] != "cold"})
    found = retrieval.module(without, ["new"], CART, [CART], 10, [], categories={"new": category})
    assert [c.item_id for c in found.candidates] == category_row(model, "cart", category)[:10]
