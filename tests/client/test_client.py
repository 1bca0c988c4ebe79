"""The sync client against the real service: every operation, its options, its errors."""

from __future__ import annotations

import pytest

from client import (
    CandidatesClient,
    Event,
    InvalidRequest,
    NotFound,
    RequestRejected,
    Unauthorized,
    calls,
)

T0 = 1_700_000_000  # event times: explicit, so that the order of the seeds is known


def popular(api: CandidatesClient, n: int = 20) -> list[str]:
    """Items the model knows: the cold-start answer of a user without history."""
    answer = api.candidates("nobody", k=n)
    assert answer.fallback == "popular"
    module = answer.module("popular")
    assert module is not None and len(module.item_ids) == n
    return module.item_ids


def with_history(api: CandidatesClient, user: str) -> tuple[list[str], list[str]]:
    """Four views and two carts for ``user``, oldest first."""
    items = popular(api)
    views, carts = items[:4], items[4:6]
    events = [Event(user_id=user, item_id=i, interaction="view", timestamp=T0 + n)
              for n, i in enumerate(views)]  # fmt: skip
    events += [Event(user_id=user, item_id=i, interaction="cart", timestamp=T0 + 10 + n)
               for n, i in enumerate(carts)]  # fmt: skip
    assert api.post_events(events).accepted == 6
    return views, carts


def test_posted_events_become_the_seeds_of_the_users_candidates(api):
    views, carts = with_history(api, "ana")
    answer = api.candidates("ana", k=10)
    viewed, carted = answer.module("viewed"), answer.module("carted")
    assert viewed is not None and carted is not None
    assert answer.fallback is None and not answer.degraded
    assert viewed.seeds == views[::-1] and carted.seeds == carts[::-1]  # newest first
    assert answer.model_version == api.ready().model_version
    for module in (viewed, carted):
        assert len(module.item_ids) == 10 and not set(module.item_ids) & set(views + carts)
        assert {c.because.item_id for c in module.candidates} <= set(module.seeds)


def test_a_single_event_is_one_event(api):
    item = popular(api)[0]
    assert api.post_events(Event(user_id="bo", item_id=item, interaction="view")).accepted == 1
    viewed = api.candidates("bo").module("viewed")
    assert viewed is not None and viewed.seeds == [item]


def test_each_module_has_its_size_and_the_second_page_continues_the_first(api):
    with_history(api, "cy")
    sized = api.candidates("cy", k_viewed=7, k_carted=3)
    assert [len(m.candidates) for m in sized.modules] == [7, 3]
    whole = api.candidates("cy", k=12)
    first, second = api.candidates("cy", k=6), api.candidates("cy", k=6, offset=6)
    for name in ("viewed", "carted"):
        pages = [page.module(name) for page in (first, second, whole)]
        assert pages[0] and pages[1] and pages[2]
        assert pages[0].item_ids + pages[1].item_ids == pages[2].item_ids


def test_a_category_filter_keeps_its_categories(api, world):
    with_history(api, "di")
    seed = api.candidates("di").modules[0].seeds[0]
    wanted = world.category[seed]
    for category in (wanted, [wanted]):  # one id, or a list
        answer = api.candidates("di", k=8, category=category)
        found = [c.item_id for m in answer.modules for c in m.candidates]
        assert len(found) == 16 and {world.category[i] for i in found} == {wanted}


def test_a_long_exclude_list_is_posted_and_honoured(api):
    with_history(api, "ed")
    plain = api.candidates("ed", k=10).module("viewed")
    assert plain is not None
    excluded = plain.item_ids[:5] + [f"gone-{n}" for n in range(2000)]  # ~20 KB: past a URL
    assert calls.candidates("ed", exclude=excluded).method == "POST"
    assert calls.candidates("ed", exclude=excluded[:5]).method == "GET"
    viewed = api.candidates("ed", k=10, exclude=excluded).module("viewed")
    assert viewed is not None and len(viewed.item_ids) == 10
    assert not set(viewed.item_ids) & set(excluded)


def test_item_neighbors_answer_because_you_x_this_you_may_y_that(api):
    item = popular(api)[0]
    answer = api.item_neighbors(item, interaction="view", target="cart", k=5)
    assert (answer.item_id, answer.interaction, answer.target) == (item, "view", "cart")
    assert 0 < len(answer.neighbors) <= 5
    scores = [n.score for n in answer.neighbors]
    assert scores == sorted(scores, reverse=True)
    assert {n.interaction for n in answer.neighbors if hasattr(n, "interaction")} == {"cart"}


def test_entity_neighbors_of_a_query_with_a_space_in_it(api, world):
    query = next(q for q in world.queries if " " in q)
    items = api.entity_neighbors("query", query, target="view", k=5)
    assert items.entity_id == query and len(items.neighbors) == 5
    assert all(getattr(n, "embedding", None) == "entity" for n in items.neighbors)
    shops = api.entity_neighbors("query", query, target="shop", k=3)
    assert [getattr(n, "kind", None) for n in shops.neighbors] == ["shop"] * 3


def test_an_unknown_item_or_entity_is_not_found(api):
    with pytest.raises(NotFound) as raised:
        api.item_neighbors("no-such-item")
    assert raised.value.status == 404 and "no-such-item" in raised.value.detail
    assert raised.value.request_id
    with pytest.raises(NotFound, match="no/such query"):
        api.entity_neighbors("query", "no/such query")  # encoded, it still reaches the route


def test_a_refused_value_is_an_invalid_request_naming_the_field(api):
    with pytest.raises(InvalidRequest) as raised:
        api.with_options(request_id="trace-42").candidates("fay", k=10**6)
    error = raised.value
    assert isinstance(error, RequestRejected) and error.status == 422
    assert [p.loc for p in error.problems] == [("query", "k")]
    assert "K_MAX" in error.problems[0].msg and "K_MAX" in str(error)
    assert error.request_id == "trace-42"  # the service logged it under the caller's id


def test_without_the_api_key_calls_are_unauthorized(service):
    for key in (None, "wrong-key"):
        with CandidatesClient(service.url, api_key=key) as anonymous:
            with pytest.raises(Unauthorized) as raised:
                anonymous.candidates("gus")
            assert raised.value.status == 401
            assert anonymous.health().status == "ok"  # probes stay open
    with CandidatesClient(service.url, api_key=service.api_key) as keyed:
        assert keyed.candidates("gus").user_id == "gus"
        with pytest.raises(Unauthorized, match="ADMIN_TOKEN"):
            keyed.reload()  # the API key is not the admin token


def test_hidden_items_leave_the_answers_until_shown_again(api):
    with_history(api, "hal")
    before = api.candidates("hal", k=10).modules[0].item_ids
    changed = api.change_hidden(hide=before[:2])
    assert changed.hidden == 2
    after = api.candidates("hal", k=10).modules[0].item_ids
    assert not set(after) & set(before[:2])
    assert api.change_hidden(show=before[:2]).hidden == 0
    assert api.candidates("hal", k=10).modules[0].item_ids == before


def test_health_ready_and_reload(api):
    assert api.health().status == "ok"
    ready = api.ready()
    assert ready.ready and ready.redis and ready.model_version
    reloaded = api.reload()
    assert reloaded.result == "unchanged" and reloaded.model_version == ready.model_version
