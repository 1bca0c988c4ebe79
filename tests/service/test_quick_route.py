"""The candidates GET's quick parser (service/quick_route.py) takes only what FastAPI takes, and
gives the endpoint the same values: an echo of the real endpoint's signature is served both ways
and asked the same queries, plain, odd and random."""

from __future__ import annotations

import inspect
from typing import Any, get_type_hints
from urllib.parse import quote, urlencode

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.quick_route import quick_route
from service.routes.candidates import QUICK_QUERY, candidates

NAMES = ["k", "k_viewed", "k_carted", "offset", "category", "exclude", "n"]
ODD_VALUES = ["0", "1", "7", "500", "501", "-1", "+5", "05", " 5", "5 ", "1e3", "5.0", "5_0",
              "9" * 18, "9" * 19, "9" * 40, "", "a", "a b", "é", "a\n", "a:b", "_a", "a@b.c-d",
              "x" * 128, "x" * 129, "true", "null"]  # fmt: skip


def echo_app() -> FastAPI:
    """``/quick/{user_id}`` and ``/checked/{user_id}``: the real endpoint's parameters, echoed
    (``quick`` tells which path answered)."""
    hints = get_type_hints(candidates, include_extras=True)
    signature = inspect.signature(candidates)
    parameters = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values()]

    async def echo(request: Request, **values: Any) -> JSONResponse:
        quick = inspect.stack()[1].function == "handle"
        called = signature.bind(request, **values)
        called.apply_defaults()
        del called.arguments["request"]
        return JSONResponse({"values": called.arguments, "quick": quick})

    echo.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    app = FastAPI()
    app.router.add_api_route(
        "/quick/{user_id}", echo, route_class_override=quick_route(QUICK_QUERY)
    )
    app.router.add_api_route("/checked/{user_id}", echo)
    return app


@pytest.fixture(scope="module")
def client():
    with TestClient(echo_app()) as client:
        yield client


def both(client: TestClient, user: str, query: str) -> tuple[Any, Any]:
    path = quote(user, safe="")
    quick = client.get(f"/quick/{path}?{query}")
    checked = client.get(f"/checked/{path}?{query}")
    assert quick.status_code == checked.status_code, query
    if quick.status_code != 200:
        assert quick.json() == checked.json()
        return None, None
    return quick.json(), checked.json()["values"]


def test_plain_queries_take_the_quick_path_with_fastapis_values(client):
    for query in ("", "k=5", "k=3&k_viewed=1&k_carted=9&offset=0", "exclude=a&exclude=b.c",
                  "category=c1&exclude=x&category=c2&offset=20"):  # fmt: skip
        quick, checked = both(client, "u-1", query)
        assert quick["quick"] and quick["values"] == checked


@pytest.mark.parametrize("value", ODD_VALUES)
@pytest.mark.parametrize("name", NAMES)
def test_an_odd_value_is_answered_as_fastapi_answers_it(client, name, value):
    quick, checked = both(client, "u", urlencode({name: value}))
    if quick is not None:
        assert quick["values"] == checked


@pytest.mark.parametrize("user", ["a b", "é", "x" * 129, "a:b", "_u"])
def test_an_odd_user_id_is_answered_as_fastapi_answers_it(client, user):
    quick, checked = both(client, user, "k=2")
    assert quick is None and checked is None


def test_a_repeated_size_goes_to_fastapi(client):
    quick, checked = both(client, "u", "k=2&k=3")
    assert not quick["quick"] and quick["values"] == checked


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(NAMES),
            st.one_of(st.sampled_from(ODD_VALUES), st.text(max_size=6), st.integers().map(str)),
        ),
        max_size=6,
    )
)
def test_random_queries_are_answered_as_fastapi_answers_them(client, pairs):
    quick, checked = both(client, "u", urlencode(pairs))
    if quick is not None:
        assert quick["values"] == checked
