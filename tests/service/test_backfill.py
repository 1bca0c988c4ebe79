"""The blend rule of a version: weak neighbours give way to the best sellers of the seed's category.

Each test publishes a copy of the test version with a ``blend`` in its manifest (through the
publish path, so the files verify), serves it on a real Redis, and reads the real answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import numpy as np
import pytest
from fastapi.testclient import TestClient

from contracts.blend import BlendRule
from contracts.interactions import Interaction
from service.model import Model, load_model
from service.schemas import CandidatesOut

from app_fixtures import items_with, make_client, republish

VIEW = Interaction.VIEW
PAIR = "item-interaction"
NEVER = 2.0
"""A threshold above any cosine: every neighbour of that way is dropped."""

Serve = Callable[..., TestClient]


@pytest.fixture
def serve(artifacts_dir, redis_url, trained) -> Iterator[Serve]:
    """``serve(blend, **settings)``: a client of a new version, the test one with ``blend``."""
    with ExitStack() as stack:

        def start(blend: BlendRule | None, **settings: object) -> TestClient:
            republish(artifacts_dir, trained.version, blend=blend)
            return stack.enter_context(make_client(artifacts_dir, redis_url, **settings))

        yield start


def rule(way: str, **by_k: float) -> BlendRule:
    """``rule(PAIR, k10=0.5)``: thresholds of one way."""
    return BlendRule(thresholds={way: {int(k[1:]): t for k, t in by_k.items()}})


def viewed(client: TestClient, user: str, events: list[tuple], k: int, **params) -> dict:
    """Post ``events`` ((item, interaction[, category]), oldest first); the viewed module."""
    keys = ("item_id", "interaction", "category_id")
    body = {"events": [{"user_id": user, **dict(zip(keys, e, strict=False))} for e in events]}
    if events:
        assert client.post("/v1/events", json=body).status_code == 202
    answer = client.get(f"/v1/users/{user}/candidates", params={"k": k, **params}).json()
    CandidatesOut.model_validate(answer)
    assert answer["fallback"] is None
    return next(m for m in answer["modules"] if m["name"] == "viewed")


def category(model: Model, item: str) -> str:
    found = model.item_category[model.item_row[item]]
    assert found is not None
    return found


def seeds_in_categories(model: Model, n: int, popular_at_least: int = 20) -> list[str]:
    """``n`` items with a view pair, of ``n`` different categories with enough best sellers."""
    found: dict[str, str] = {}
    for item in items_with(model, VIEW):
        c = category(model, item)
        if c not in found and len(model.popular.of_category(c) or ()) >= popular_at_least:
            found[c] = item
        if len(found) == n:
            return list(found.values())
    raise AssertionError(f"the test version has no {n} such categories")


def view_row(model: Model, item: str) -> tuple[list[str], np.ndarray]:
    """The item's row of the view>view table: neighbour ids and scores, best first."""
    token = model.item_token[model.item_row[item], VIEW]
    rows, scores = model.tables[("view", "view")].lookup(np.array([token]))
    keep = rows[0] >= 0
    return [model.item_ids[r] for r in rows[0][keep]], scores[0][keep]


def best_sellers(model: Model, of: str, without: set[str]) -> list[tuple[str, float]]:
    return [(i, x) for i, x in model.popular.of_category(of) or () if i not in without]


def in_category(seed: str, of: str) -> dict:
    return {"reason": "popular_in_category", "item_id": seed, "interaction": "view",
            "category_id": of}  # fmt: skip


def ids(module: dict) -> list[str]:
    return [c["item_id"] for c in module["candidates"]]


def test_a_seed_whose_neighbours_all_fall_below_the_threshold_gets_its_categorys_best_sellers(
    serve, model
):
    seed = seeds_in_categories(model, 1)[0]
    _, scores = view_row(model, seed)
    client = serve(rule(PAIR, k10=float(scores.max()) + 0.01))
    module = viewed(client, "bea", [(seed, "view")], k=10)
    assert module["seeds"] == [seed]
    expected = best_sellers(model, category(model, seed), {seed})[:10]
    assert [(c["item_id"], c["score"]) for c in module["candidates"]] == expected
    for c in module["candidates"]:
        assert c["embedding"] == "popular" and c["interaction"] is None
        assert c["because"] == in_category(seed, category(model, seed))


def test_the_threshold_is_the_one_learned_for_the_smallest_k_at_or_above_the_request(serve, model):
    seed = seeds_in_categories(model, 1)[0]
    client = serve(rule(PAIR, k10=NEVER, k20=-1.0))
    at_10 = viewed(client, "cal", [(seed, "view")], k=10)
    at_11 = viewed(client, "cal", [], k=11)
    assert {c["because"]["reason"] for c in at_10["candidates"]} == {"popular_in_category"}
    neighbours, _ = view_row(model, seed)
    assert ids(at_11) == [i for i in neighbours if i != seed][:11]
    assert {c["because"]["reason"] for c in at_11["candidates"]} == {"seed"}


def test_the_neighbours_above_the_threshold_come_first_then_the_backfill(serve, model):
    seed = seeds_in_categories(model, 1)[0]
    neighbours, scores = view_row(model, seed)
    threshold = float(scores[4])
    kept = [i for i, x in zip(neighbours, scores, strict=True) if x >= threshold and i != seed]
    k = len(kept) + 5
    client = serve(rule(PAIR, k500=threshold))
    module = viewed(client, "dot", [(seed, "view")], k=k)
    assert ids(module)[: len(kept)] == kept
    reasons = [c["because"]["reason"] for c in module["candidates"]]
    assert reasons == ["seed"] * len(kept) + ["popular_in_category"] * 5
    fill = best_sellers(model, category(model, seed), {seed, *kept})[:5]
    assert [(c["item_id"], c["score"]) for c in module["candidates"][len(kept) :]] == fill


def test_the_seeds_take_turns_newest_first(serve, model):
    older, newer = seeds_in_categories(model, 2)
    client = serve(rule(PAIR, k1=NEVER))
    module = viewed(client, "eve", [(older, "view"), (newer, "view")], k=6)
    assert module["seeds"] == [newer, older]
    of_newer = best_sellers(model, category(model, newer), {older, newer})
    of_older = best_sellers(model, category(model, older), {older, newer})
    turns = zip(of_newer[:3], of_older[:3], strict=True)
    assert ids(module) == [item for pair in turns for item, _ in pair]
    assert [c["because"]["item_id"] for c in module["candidates"]] == [newer, older] * 3


def test_two_seeds_of_one_category_share_its_best_sellers(serve, model):
    first = seeds_in_categories(model, 1)[0]
    of = category(model, first)
    second = next(i for i in items_with(model, VIEW) if i != first and category(model, i) == of)
    client = serve(rule(PAIR, k1=NEVER))
    module = viewed(client, "fay", [(first, "view"), (second, "view")], k=6)
    assert ids(module) == [i for i, _ in best_sellers(model, of, {first, second})][:6]
    assert [c["because"]["item_id"] for c in module["candidates"]] == [second, first] * 3


def test_past_its_categorys_best_sellers_the_module_fills_with_popular_items_overall(serve, model):
    seed = seeds_in_categories(model, 1)[0]
    of_category = best_sellers(model, category(model, seed), {seed})
    k = len(of_category) + 7
    client = serve(rule(PAIR, k1=NEVER))
    module = viewed(client, "gil", [(seed, "view")], k=k)
    assert len(module["candidates"]) == k == len(set(ids(module)))
    assert ids(module)[: len(of_category)] == [i for i, _ in of_category]
    taken = {seed, *(i for i, _ in of_category)}
    overall = [(i, x) for i, x in model.popular.overall if i not in taken][:7]
    assert [(c["item_id"], c["score"]) for c in module["candidates"][-7:]] == overall
    for c in module["candidates"][-7:]:
        assert c["because"] == {"reason": "popular", "item_id": None, "interaction": None,
                                "category_id": None}  # fmt: skip


def test_the_backfill_never_returns_a_purchase_an_excluded_item_or_a_seed(serve, model):
    seed = seeds_in_categories(model, 1)[0]
    of = category(model, seed)
    top = [i for i, _ in best_sellers(model, of, {seed})]
    client = serve(rule(PAIR, k1=NEVER))
    events = [(top[0], "purchase"), (top[1], "cart"), (seed, "view")]
    module = viewed(client, "hal", events, k=10, exclude=[top[2]])
    assert ids(module) == top[3:13]
    assert {c["because"]["item_id"] for c in module["candidates"]} == {seed}


def test_a_cold_seed_backfills_from_the_category_it_was_posted_with(serve, model):
    of = category(model, seeds_in_categories(model, 1)[0])
    client = serve(rule("category", k1=NEVER))
    module = viewed(client, "ivy", [("brand-new", "view", of)], k=8)
    assert module["seeds"] == ["brand-new"]
    assert ids(module) == [i for i, _ in best_sellers(model, of, set())][:8]
    for c in module["candidates"]:
        assert c["because"] == in_category("brand-new", of)


@pytest.mark.parametrize(
    "blend",
    [None, rule("category", k1=NEVER), rule(PAIR, k10=-1.0)],
    ids=["no-rule", "a-rule-for-another-way", "a-threshold-below-every-score"],
)
def test_a_version_without_a_rule_for_the_seeds_way_keeps_every_neighbour(serve, model, blend):
    seed = seeds_in_categories(model, 1)[0]
    module = viewed(serve(blend), "jon", [(seed, "view")], k=10)
    neighbours, scores = view_row(model, seed)
    expected = [(i, round(float(x), 6)) for i, x in zip(neighbours, scores, strict=True)]
    expected = [(i, x) for i, x in expected if i != seed][:10]
    assert [(c["item_id"], c["score"]) for c in module["candidates"]] == expected
    for c in module["candidates"]:
        assert c["embedding"] == PAIR and c["because"]["reason"] == "seed"


def test_without_a_rule_a_module_its_table_leaves_short_is_backfilled(serve, model):
    seed = seeds_in_categories(model, 1)[0]
    neighbours = [i for i in view_row(model, seed)[0] if i != seed]
    k = len(neighbours) + 5
    module = viewed(serve(None, live_indexes="none"), "kit", [(seed, "view")], k=k)
    assert ids(module)[: len(neighbours)] == neighbours
    fill = best_sellers(model, category(model, seed), {seed, *neighbours})[:5]
    assert [(c["item_id"], c["score"]) for c in module["candidates"][-5:]] == fill


def backfilled(client: TestClient, module: str, reason: str) -> float:
    labels = rf'module="{module}",reason="{reason}",version="[^"]+"'
    pattern = rf"ic_backfilled_candidates_total{{{labels}}} (\S+)"
    found = re.search(pattern, client.get("/metrics").text)
    return float(found.group(1)) if found else 0.0


def test_backfilled_candidates_are_counted_per_module_and_reason(serve, model):
    seed = seeds_in_categories(model, 1)[0]
    client = serve(rule(PAIR, k1=NEVER))
    before = backfilled(client, "viewed", "popular_in_category")
    viewed(client, "lee", [(seed, "view")], k=10)
    assert backfilled(client, "viewed", "popular_in_category") == before + 10


def test_the_loaded_model_exposes_the_versions_rule(artifacts_dir, trained):
    blend = rule("item", k50=0.25)
    version = republish(artifacts_dir, trained.version, blend=blend)
    assert load_model(artifacts_dir, version).blend == blend
    assert load_model(artifacts_dir, republish(artifacts_dir, version, blend=None)).blend is None
