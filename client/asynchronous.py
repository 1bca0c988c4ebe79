"""``AsyncCandidatesClient``: the API from asyncio code (a FastAPI or aiohttp backend)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Concatenate, ParamSpec

import httpx

from client import calls
from client.base import ClientBase, method_of
from client.calls import A, Call

P = ParamSpec("P")


def _sends(
    build: Callable[P, Call[A]],
) -> Callable[Concatenate[AsyncCandidatesClient, P], Coroutine[Any, Any, A]]:
    """A coroutine method that builds its call with ``build`` and sends it."""

    async def method(self: AsyncCandidatesClient, /, *args: P.args, **kwargs: P.kwargs) -> A:
        return await self.send(build(*args, **kwargs))

    method_of(build, method)
    return method


class AsyncCandidatesClient(ClientBase[httpx.AsyncClient]):
    """``CandidatesClient`` for asyncio: the same options and methods, each a coroutine;
    ``async with AsyncCandidatesClient(url) as api: await api.candidates(user)``."""

    def _connect(self, headers: dict[str, str]) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, headers=headers)

    async def send(self, call: Call[A]) -> A:
        """Make ``call`` (from ``client.calls``), trying again as the retry policy allows."""
        request = self._request(call)
        attempt = 0
        while True:
            outcome: httpx.Response | httpx.RequestError
            try:
                outcome = await self._http.send(request)
            except httpx.RequestError as exc:
                outcome = exc
            pause = self._pause(call, outcome, attempt)
            if pause is None:
                return self._settle(call, request, outcome)
            await asyncio.sleep(pause)
            attempt += 1

    async def aclose(self) -> None:
        """Close the connections (not those of a client made by ``with_options``: they are
        its parent's)."""
        if self._owns_http:
            await self._http.aclose()

    close = aclose

    async def __aenter__(self) -> AsyncCandidatesClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    candidates = _sends(calls.candidates)
    item_neighbors = _sends(calls.item_neighbors)
    entity_neighbors = _sends(calls.entity_neighbors)
    post_events = _sends(calls.post_events)
    health = _sends(calls.health)
    ready = _sends(calls.ready)
    reload = _sends(calls.reload)
    change_hidden = _sends(calls.change_hidden)
