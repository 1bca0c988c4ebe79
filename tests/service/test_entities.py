"""Entity neighbours: item → query, query → item, shop → shop, each explained; errors that say why.

The entity version's world (app_fixtures.entity_trained): searches like "cheap c012" are
followed by a view of an item of category c012, and shop s sells in the same category pair as
shops s ± 10.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from contracts.interactions import Interaction
from service.schemas import EntityNeighborsOut, NeighborsOut

from app_fixtures import items_with, make_client, problems


@pytest.fixture(scope="module")
def entity_client(entity_trained, redis_server) -> Iterator[TestClient]:
    """The app serving the entity version (these tests only read it, and never Redis)."""
    with make_client(entity_trained.root, redis_server.url) as c:
        yield c


def queries(model) -> list[str]:
    return [
        i for kind, i in zip(model.entity_kind, model.entity_ids, strict=True) if kind == "query"
    ]


def entity_url(kind: str, entity_id: str) -> str:
    return f"/v1/entities/{kind}/{quote(entity_id, safe='')}/neighbors"


def category_of_query(query: str) -> str:
    """The category a synthetic query names: "cheap c012" → "c012"."""
    (category,) = [word for word in query.split() if word.startswith("c0")]
    return category


def test_an_items_view_pair_finds_queries_explained_by_the_item(entity_client, entity_model):
    item = items_with(entity_model, Interaction.VIEW)[0]
    params = {"interaction": "view", "target": "query", "k": 5}
    response = entity_client.get(f"/v1/items/{item}/neighbors", params=params)
    assert response.status_code == 200
    body = response.json()
    NeighborsOut.model_validate(body)
    assert body["target"] == "query" and body["model_version"] == entity_model.version
    assert 0 < len(body["neighbors"]) <= 5
    for n in body["neighbors"]:
        assert n["kind"] == "query" and n["entity_id"] in queries(entity_model)
        assert n["because"] == {
            "reason": "seed", "item_id": item, "interaction": "view", "category_id": None
        }  # fmt: skip
    scores = [n["score"] for n in body["neighbors"]]
    assert scores == sorted(scores, reverse=True)


def test_a_query_with_a_space_finds_items_explained_by_the_query(entity_client, entity_model):
    query = next(q for q in queries(entity_model) if " " in q)
    response = entity_client.get(entity_url("query", query), params={"target": "view", "k": 8})
    assert response.status_code == 200
    body = response.json()
    EntityNeighborsOut.model_validate(body)
    assert (body["kind"], body["entity_id"], body["target"]) == ("query", query, "view")
    assert response.headers["X-Model-Version"] == entity_model.version
    items = [n["item_id"] for n in body["neighbors"]]
    assert len(items) == 8 == len(set(items))
    for n in body["neighbors"]:
        assert (n["interaction"], n["embedding"]) == ("view", "entity")
        assert n["because"] == {
            "reason": "seed", "item_id": None, "interaction": None, "category_id": None,
            "entity_kind": "query", "entity_id": query,
        }  # fmt: skip


def test_a_querys_items_are_mostly_of_the_category_it_names(entity_client, entity_model):
    found = same = 0
    for query in queries(entity_model):
        body = entity_client.get(entity_url("query", query), params={"target": "view", "k": 10})
        categories = [entity_model.item_category[entity_model.item_row[n["item_id"]]]
                      for n in body.json()["neighbors"]]  # fmt: skip
        found += len(categories)
        same += categories.count(category_of_query(query))
    assert same / found > 0.6  # 20 categories: 0.05 by chance


def test_a_shops_neighbours_are_other_shops_mostly_of_its_category_pair(entity_client):
    response = entity_client.get(entity_url("shop", "s0001"), params={"target": "shop", "k": 4})
    assert response.status_code == 200
    neighbours = response.json()["neighbors"]
    shops = [n["entity_id"] for n in neighbours]
    assert len(shops) == 4 and "s0001" not in shops
    assert {n["kind"] for n in neighbours} == {"shop"}
    assert {"s0011", "s0021"} <= set(shops)  # the shops selling in the same category pair
    assert all(n["because"]["entity_id"] == "s0001" for n in neighbours)


def test_an_unknown_entity_is_a_404_naming_it(entity_client):
    for kind, entity_id in (("query", "no such search"), ("shop", "a/b"), ("category", "zz")):
        response = entity_client.get(entity_url(kind, entity_id))
        assert response.status_code == 404
        assert repr(entity_id) in response.json()["detail"]


def test_an_item_without_the_seed_pair_has_no_entity_neighbours(entity_client, entity_model):
    item = items_with(entity_model, Interaction.VIEW, without=Interaction.CART)[0]
    params = {"interaction": "cart", "target": "shop"}
    response = entity_client.get(f"/v1/items/{item}/neighbors", params=params)
    assert response.status_code == 404 and "no cart pair" in response.json()["detail"]


@pytest.mark.parametrize(
    "url, params",
    [
        ("/v1/entities/brand/x/neighbors", {}),
        ("/v1/entities/query/x/neighbors", {"target": "brand"}),
        ("/v1/entities/query/x/neighbors", {"k": 0}),
        ("/v1/entities/query/x/neighbors", {"k": 501}),
        ("/v1/entities/query/" + "x" * 257 + "/neighbors", {}),
        ("/v1/entities/query/a%09b/neighbors", {}),
    ],
)
def test_invalid_kinds_targets_ks_and_ids_are_a_422(entity_client, url, params):
    response = entity_client.get(url, params=params)
    assert problems(response)


def test_a_target_whose_index_is_not_live_here_is_a_422_saying_so(entity_trained, redis_url):
    with make_client(entity_trained.root, redis_url, live_indexes="view,item") as client:
        shop = client.get(entity_url("shop", "s0001"), params={"target": "shop"})
        cart = client.get(entity_url("shop", "s0001"), params={"target": "cart"})
        assert client.get(entity_url("shop", "s0001"), params={"target": "view"}).is_success
    for refused in (shop, cart):
        assert "query.target: " in problems(refused) and "LIVE_INDEXES" in problems(refused)


def test_a_version_without_entities_answers_entity_requests_with_a_422(client, model):
    item = items_with(model, Interaction.VIEW)[0]
    by_item = client.get(f"/v1/items/{item}/neighbors", params={"target": "query"})
    by_query = client.get(entity_url("query", "red shoes"))
    for refused in (by_item, by_query):
        assert "no query tokens" in problems(refused)
    assert client.get(f"/v1/items/{item}/neighbors", params={"target": "view"}).is_success


def test_entity_queries_are_timed_per_index(entity_client):
    entity_client.get(entity_url("shop", "s0002"), params={"target": "shop"})
    text = entity_client.get("/metrics").text
    assert 'ic_ann_query_duration_seconds_count{index="shop"}' in text
