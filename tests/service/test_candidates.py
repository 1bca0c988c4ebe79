"""GET /v1/users/{id}/candidates: modules, explanations, the merge rule, exclusions, cold start."""

from __future__ import annotations

from collections import Counter

import pytest

from contracts.interactions import Interaction
from service.schemas import CandidatesOut

from app_fixtures import items_with, problems

VIEW, CART, PURCHASE = Interaction.VIEW, Interaction.CART, Interaction.PURCHASE


def post(client, user, pairs):
    events = [{"user_id": user, "item_id": i, "interaction": x} for i, x in pairs]
    response = client.post("/v1/events", json={"events": events})
    assert response.status_code == 202, response.text


def modules(body) -> dict[str, dict]:
    return {m["name"]: m for m in body["modules"]}


def test_a_user_with_views_and_carts_gets_both_modules_explained(client, model):
    viewed = items_with(model, VIEW)[:6]
    carted = items_with(model, CART)[:2]
    post(client, "alice", [(i, "view") for i in viewed] + [(i, "cart") for i in carted])
    response = client.get("/v1/users/alice/candidates", params={"k": 20})
    assert response.status_code == 200
    body = response.json()
    CandidatesOut.model_validate(body)
    assert body["fallback"] is None and body["degraded"] is False
    assert response.headers["X-Model-Version"] == body["model_version"] == model.version
    got = modules(body)
    assert got["viewed"]["seeds"] == list(reversed(viewed))[:4]
    assert got["carted"]["seeds"] == list(reversed(carted))
    for name, seed_interaction in (("viewed", "view"), ("carted", "cart")):
        module = got[name]
        assert module["seed_interaction"] == seed_interaction  # view is 0: never dropped as falsy
        assert module["title"].startswith("Inspired by what you")
        assert 0 < len(module["candidates"]) <= 20
        found = [c for c in module["candidates"] if c["because"]["reason"] == "seed"]
        assert found, "the version's blend rule kept no neighbour at all"
        for c in found:
            assert c["because"] == {
                "reason": "seed",
                "item_id": c["because"]["item_id"],
                "interaction": seed_interaction,
                "category_id": None,
            }
            assert c["because"]["item_id"] in module["seeds"]
            assert c["interaction"] in module["target_interactions"]
        for c in module["candidates"][len(found) :]:  # the backfill comes after, labelled
            assert c["embedding"] == "popular" and c["interaction"] is None
            assert c["because"]["reason"] in ("popular_in_category", "popular")


def test_no_candidate_is_a_seed_a_purchase_or_a_repeat(client, model):
    viewed = items_with(model, VIEW)[:4]
    bought = items_with(model, VIEW)[4:40]
    post(client, "bob", [(i, "purchase") for i in bought] + [(i, "view") for i in viewed])
    body = client.get("/v1/users/bob/candidates", params={"k": 100}).json()
    ids = [c["item_id"] for c in modules(body)["viewed"]["candidates"]]
    assert len(ids) == len(set(ids))
    assert not set(ids) & (set(viewed) | set(bought))


def test_every_seed_gets_a_fair_share_before_any_gets_more(client, model):
    viewed = items_with(model, VIEW)[:4]
    post(client, "carol", [(i, "view") for i in viewed])
    body = client.get("/v1/users/carol/candidates?k=8").json()
    candidates = modules(body)["viewed"]["candidates"]
    assert Counter(c["because"]["item_id"] for c in candidates) == {s: 2 for s in viewed}
    first_round, second_round = candidates[:4], candidates[4:]
    assert {c["because"]["item_id"] for c in first_round} == set(viewed)
    for one_round in (first_round, second_round):
        scores = [c["score"] for c in one_round]
        assert scores == sorted(scores, reverse=True)


def test_the_callers_exclude_list_is_honoured(client, model):
    viewed = items_with(model, VIEW)[:2]
    post(client, "dave", [(i, "view") for i in viewed])
    first = modules(client.get("/v1/users/dave/candidates?k=10").json())["viewed"]["candidates"]
    dropped = [c["item_id"] for c in first[:3]]
    again = client.get("/v1/users/dave/candidates", params={"k": 10, "exclude": dropped}).json()
    assert not {c["item_id"] for c in modules(again)["viewed"]["candidates"]} & set(dropped)


def test_history_items_unknown_to_the_model_are_skipped_and_reported(client, model):
    known = items_with(model, VIEW)[0]
    post(client, "erin", [("never-seen-1", "view"), (known, "view"), ("never-seen-2", "view")])
    viewed = modules(client.get("/v1/users/erin/candidates").json())["viewed"]
    assert viewed["seeds"] == [known]
    assert viewed["unknown_seeds"] == ["never-seen-2", "never-seen-1"]
    assert viewed["candidates"]


def test_a_seed_without_its_pair_falls_back_to_the_item_embedding(client, model):
    only_viewed = items_with(model, VIEW, without=CART)[0]
    post(client, "fay", [(only_viewed, "cart")])
    carted = modules(client.get("/v1/users/fay/candidates").json())["carted"]
    assert carted["seeds"] == [only_viewed]
    assert carted["candidates"]
    assert {c["embedding"] for c in carted["candidates"]} == {"item"}


def test_a_user_without_history_gets_popular_items(client, model):
    body = client.get("/v1/users/nobody/candidates?k=7").json()
    CandidatesOut.model_validate(body)
    assert body["fallback"] == "popular" and body["degraded"] is False
    (popular,) = body["modules"]
    assert popular["name"] == "popular"
    top = [item for item, _ in model.popular.overall.head(7)]
    assert [c["item_id"] for c in popular["candidates"]] == top
    assert all(c["because"]["reason"] == "popular" for c in popular["candidates"])


def test_a_user_who_only_bought_gets_popular_items_of_those_categories(client, model):
    item = items_with(model, PURCHASE)[0]
    category = model.item_category[model.item_row[item]]
    post(client, "gus", [(item, "purchase")])
    body = client.get("/v1/users/gus/candidates?k=5").json()
    assert body["fallback"] == "popular"
    candidates = body["modules"][0]["candidates"]
    assert all(c["because"]["category_id"] == category for c in candidates)
    assert item not in {c["item_id"] for c in candidates}


@pytest.mark.parametrize(
    "path, params",
    [
        ("/v1/users/alice/candidates", {"k": 0}),
        ("/v1/users/alice/candidates", {"k": 501}),
        ("/v1/users/alice/candidates", {"k": "many"}),
        ("/v1/users/" + "u" * 129 + "/candidates", {}),
        ("/v1/users/bad%20id/candidates", {}),
        ("/v1/users/alice/candidates", {"exclude": ["ok", "not ok"]}),
        ("/v1/users/alice/candidates", {"exclude": [f"i{n}" for n in range(501)]}),
    ],
)
def test_invalid_parameters_get_a_422_naming_the_problem(client, path, params):
    response = client.get(path, params=params)
    assert problems(response)
