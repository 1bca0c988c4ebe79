"""What the homepage asks for beyond a user: a size per module, a page, a category filter,
a long exclude list in a POST body, and nothing it did not mean (unknown parameters)."""

from __future__ import annotations

from contracts.interactions import Interaction

from app_fixtures import items_with, problems

VIEW, CART = Interaction.VIEW, Interaction.CART


def with_history(client, model, user="hana"):
    viewed, carted = items_with(model, VIEW)[:4], items_with(model, CART)[:2]
    events = [{"user_id": user, "item_id": i, "interaction": "view"} for i in viewed]
    events += [{"user_id": user, "item_id": i, "interaction": "cart"} for i in carted]
    assert client.post("/v1/events", json=events).status_code == 202
    return user


def ids(body, name):
    module = next(m for m in body["modules"] if m["name"] == name)
    return [c["item_id"] for c in module["candidates"]]


def get(client, user, **params):
    response = client.get(f"/v1/users/{user}/candidates", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_each_module_has_its_own_size(client, model):
    user = with_history(client, model)
    body = get(client, user, k_viewed=7, k_carted=3)
    assert (len(ids(body, "viewed")), len(ids(body, "carted"))) == (7, 3)


def test_the_second_page_continues_the_first(client, model):
    user = with_history(client, model)
    whole = get(client, user, k=20)
    first, second = get(client, user, k=10), get(client, user, k=10, offset=10)
    for name in ("viewed", "carted"):
        assert ids(first, name) + ids(second, name) == ids(whole, name)


def test_a_page_past_k_max_is_empty_not_an_error(client, model):
    user = with_history(client, model)
    body = get(client, user, k=10, offset=10**30)
    assert ids(body, "viewed") == ids(body, "carted") == []


def test_a_category_filter_keeps_only_its_categories_and_still_fills_the_module(client, model):
    user = with_history(client, model)
    seed_category = model.item_category[model.item_row[items_with(model, VIEW)[0]]]
    other = next(c for c in model.popular.categories if c != seed_category)
    body = get(client, user, k=15, category=[seed_category, other])
    for name in ("viewed", "carted"):
        found = ids(body, name)
        assert len(found) == 15
        assert {model.item_category[model.item_row[i]] for i in found} <= {seed_category, other}


def test_a_post_takes_the_same_options_and_a_long_exclude_list(client, model):
    user = with_history(client, model)
    plain = get(client, user, k=10)
    excluded = ids(plain, "viewed")[:5] + [f"gone-{n}" for n in range(2000)]  # past a URL
    response = client.post(
        f"/v1/users/{user}/candidates", json={"k": 10, "exclude": excluded, "k_carted": 4}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not set(ids(body, "viewed")) & set(excluded) and len(ids(body, "viewed")) == 10
    assert len(ids(body, "carted")) == 4


def test_unknown_query_parameters_are_a_422_naming_them(client, model):
    item = items_with(model, VIEW)[0]
    for url in ("/v1/users/u/candidates?n=2", f"/v1/items/{item}/neighbors?targte=cart"):
        assert problems(client.get(url)).split(":")[0] in ("query.n", "query.targte")


def test_sizes_over_k_max_are_refused_naming_the_field(client):
    assert problems(client.get("/v1/users/u/candidates?k_viewed=501")).startswith("query.k_viewed")
    response = client.post("/v1/users/u/candidates", json={"k_carted": 501})
    assert problems(response).startswith("body.k_carted")
