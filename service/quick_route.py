"""A FastAPI route whose plain requests skip FastAPI's per-request validation (the hot path's).

FastAPI checks a request by solving the endpoint's dependencies: every declared query parameter
is looked up and validated by pydantic, and an error context is built in case one fails. On the
candidates GET that is ~0.1 ms of CPU, a tenth of the request (docs/benchmarks.md, "CPU per
request"). ``quick_route(spec)`` keeps the route exactly as FastAPI declares it (its OpenAPI
document, its 422s) and puts a plain parser in front of it:

* a request whose parameters are all of the plainest form — known names, each scalar at most
  once, integers written as canonical decimals no smaller than their minimum, ids that match
  ``ID_PATTERN`` — calls the endpoint directly, with the values FastAPI would have passed;
* any other request (an unknown or repeated name, ``k=+5``, ``k=0``, an id with a space…) goes
  through FastAPI's own handler, so every error answer is still FastAPI's.

The parser accepts a subset of what FastAPI accepts and gives the same values
(tests/service/test_quick_route.py compares the two paths over many queries).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from contracts.redis_keys import ID_PATTERN

_COUNT = re.compile(r"0|[1-9][0-9]{0,17}")  # canonical: no sign, space, leading zero or '_'

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


@dataclass(frozen=True)
class QuickQuery:
    """What a route's plain requests hold: path ids, integer query parameters (name → minimum)
    and repeatable id query parameters. Names are the endpoint's parameter names."""

    path_ids: frozenset[str]
    counts: Mapping[str, int] = field(default_factory=dict)
    id_lists: frozenset[str] = frozenset()

    def parse(self, request: Request) -> dict[str, Any] | None:
        """The endpoint's keyword arguments, or None when FastAPI should look at the request."""
        values: dict[str, Any] = {}
        path = request.path_params
        for name in self.path_ids:
            value = path.get(name)
            if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
                return None
            values[name] = value
        for name, value in request.query_params.multi_items():
            if name in self.id_lists:
                if not ID_PATTERN.fullmatch(value):
                    return None
                values.setdefault(name, []).append(value)
            elif name in self.counts and name not in values and _COUNT.fullmatch(value):
                number = int(value)
                if number < self.counts[name]:
                    return None
                values[name] = number
            else:
                return None
        return values


def quick_route(query: QuickQuery) -> type[APIRoute]:
    """An ``APIRoute`` class (``route_class_override``) whose requests that ``query`` parses
    call the endpoint directly, and the others go through FastAPI."""

    class QuickRoute(APIRoute):
        def get_route_handler(self) -> Handler:
            checked = super().get_route_handler()
            endpoint = self.endpoint

            async def handle(request: Request) -> Response:
                values = query.parse(request)
                if values is None:
                    return await checked(request)
                response: Response = await endpoint(request, **values)
                return response

            return handle

    return QuickRoute
