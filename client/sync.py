"""``CandidatesClient``: the API from blocking code (a Django or Flask backend, a script)."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Concatenate, ParamSpec

import httpx

from client import calls
from client.base import ClientBase, method_of
from client.calls import A, Call

P = ParamSpec("P")


def _sends(build: Callable[P, Call[A]]) -> Callable[Concatenate[CandidatesClient, P], A]:
    """A method that builds its call with ``build`` and sends it."""

    def method(self: CandidatesClient, /, *args: P.args, **kwargs: P.kwargs) -> A:
        return self.send(build(*args, **kwargs))

    method_of(build, method)
    return method


class CandidatesClient(ClientBase[httpx.Client]):
    """The API from blocking code (a Django or Flask backend, a script): the options are
    ``ClientBase``'s; ``with CandidatesClient(url, api_key=KEY) as api: api.candidates(user)``.
    """

    def _connect(self, headers: dict[str, str]) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=headers)

    def send(self, call: Call[A]) -> A:
        """Make ``call`` (from ``client.calls``), trying again as the retry policy allows."""
        request = self._request(call)
        attempt = 0
        while True:
            outcome: httpx.Response | httpx.RequestError
            try:
                outcome = self._http.send(request)
            except httpx.RequestError as exc:
                outcome = exc
            pause = self._pause(call, outcome, attempt)
            if pause is None:
                return self._settle(call, request, outcome)
            time.sleep(pause)
            attempt += 1

    def close(self) -> None:
        """Close the connections (not those of a client made by ``with_options``: they are
        its parent's)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> CandidatesClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    candidates = _sends(calls.candidates)
    item_neighbors = _sends(calls.item_neighbors)
    entity_neighbors = _sends(calls.entity_neighbors)
    post_events = _sends(calls.post_events)
    health = _sends(calls.health)
    ready = _sends(calls.ready)
    reload = _sends(calls.reload)
    change_hidden = _sends(calls.change_hidden)
