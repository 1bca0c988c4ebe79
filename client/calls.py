"""Every operation of the HTTP API (docs/api.md) as a description of one call: method, path,
query, body, the model its answer parses into, and whether repeating it is harmless.

Built here once, executed by both clients (``CandidatesClient`` sends it with httpx's sync
client, ``AsyncCandidatesClient`` with its async one), so a path or an option is written in one
place. Each builder's signature is the client method's signature, and its docstring the
method's documentation. An option left at None is not sent: the service's default applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote, urlencode

from pydantic import BaseModel

from client.models import (
    Candidates,
    EntityKind,
    EntityNeighbors,
    Event,
    EventsAccepted,
    Health,
    HiddenItems,
    Interaction,
    ItemNeighbors,
    Ready,
    ReloadResult,
    Target,
)

A = TypeVar("A", bound=BaseModel)
Params = tuple[tuple[str, str | int], ...]

GET_EXCLUDE_MAX = 100
"""More excluded ids than this go in a POST body: well under the service's ``EXCLUDE_MAX``
(500 by default) for a GET."""
GET_QUERY_MAX = 2000
"""A longer query string goes in a POST body: proxies refuse request lines past ~8 KB."""


@dataclass(frozen=True)
class Call(Generic[A]):
    """One request to make and how to read its answer."""

    operation: str
    """The OpenAPI ``operationId`` (``getCandidates``…); the contract test matches on it."""
    method: Literal["GET", "POST"]
    path: str
    answer: type[A]
    params: Params = ()
    body: Any = None
    """The JSON body (None: none)."""
    idempotent: bool = True
    """Whether making the call twice has the effect of making it once (policy.Retry)."""
    admin: bool = False
    """Whether it needs the admin token (``/admin/*``)."""
    also_answers: frozenset[int] = frozenset()
    """Error statuses whose body is the answer all the same (a not-ready instance's 503);
    a 2xx is always the answer."""


def candidates(
    user_id: str,
    *,
    k: int | None = None,
    k_viewed: int | None = None,
    k_carted: int | None = None,
    offset: int | None = None,
    category: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
) -> Call[Candidates]:
    """The user's candidates: a ``viewed`` and a ``carted`` module (or the ``popular``
    fallback), each candidate with its reason.

    ``k`` per module (``k_viewed``, ``k_carted``: one module's size), ``offset`` skips that
    many per module (the next page), ``category`` keeps only candidates of these categories,
    ``exclude`` items never to return. A long ``exclude`` (over 100 ids, or a query past 2,000
    characters) is sent as ``POST /v1/users/{user_id}/candidates``, which answers the same.
    """
    categories, excluded = _ids(category), _ids(exclude)
    path = f"/v1/users/{_segment(user_id)}/candidates"
    sizes = {"k": k, "k_viewed": k_viewed, "k_carted": k_carted, "offset": offset}
    params: Params = tuple((name, value) for name, value in sizes.items() if value is not None)
    params += tuple(("category", c) for c in categories) + tuple(("exclude", e) for e in excluded)
    if len(excluded) <= GET_EXCLUDE_MAX and len(urlencode(params)) <= GET_QUERY_MAX:
        return Call("getCandidates", "GET", path, Candidates, params=params)
    body: dict[str, int | list[str]] = {n: v for n, v in sizes.items() if v is not None}
    body |= {"category": categories} if categories else {}
    return Call("postCandidates", "POST", path, Candidates, body=body | {"exclude": excluded})


def item_neighbors(
    item_id: str,
    *,
    interaction: Interaction | None = None,
    target: Target | None = None,
    k: int | None = None,
) -> Call[ItemNeighbors]:
    """Because you ``interaction`` this item, you may ``target`` these (service defaults:
    view, cart, 50): items for an interaction target, entities for a kind (``query``…)."""
    path = f"/v1/items/{_segment(item_id)}/neighbors"
    query = {"interaction": interaction, "target": target, "k": k}
    return Call("getItemNeighbors", "GET", path, ItemNeighbors, params=_given(query))


def entity_neighbors(
    kind: EntityKind, entity_id: str, *, target: Target | None = None, k: int | None = None
) -> Call[EntityNeighbors]:
    """The items (interaction ``target``, default view) or entities (kind ``target``) nearest
    to an entity token: a search query such as ``"red shoes"``, a category or a shop."""
    path = f"/v1/entities/{_segment(kind)}/{_segment(entity_id)}/neighbors"
    query = {"target": target, "k": k}
    return Call("getEntityNeighbors", "GET", path, EntityNeighbors, params=_given(query))


def post_events(events: Event | Sequence[Event]) -> Call[EventsAccepted]:
    """Record one event or a batch (at most the service's ``EVENTS_BATCH_MAX``, 1000 by
    default) in the users' histories; ``accepted`` counts them. Retried only when the request
    surely never left (see docs/client.md, "Retries")."""
    batch = [events] if isinstance(events, Event) else list(events)
    body = {"events": [e.model_dump(mode="json", exclude_none=True) for e in batch]}
    return Call("postEvents", "POST", "/v1/events", EventsAccepted, body=body, idempotent=False)


def health() -> Call[Health]:
    """Whether the process answers (no dependency is checked)."""
    return Call("getHealth", "GET", "/healthz", Health)


def ready() -> Call[Ready]:
    """Whether the instance serves a model (``ready``), which version, and whether Redis
    answers. A not-ready instance's 503 is this answer too, not an error."""
    return Call("getReady", "GET", "/readyz", Ready, also_answers=frozenset({503}))


def reload() -> Call[ReloadResult]:
    """Admin: load the version ``CURRENT`` names now (also retries a version refused before)."""
    return Call("postReload", "POST", "/admin/reload", ReloadResult, admin=True)


def change_hidden(*, hide: Iterable[str] = (), show: Iterable[str] = ()) -> Call[HiddenItems]:
    """Admin: hide items from every answer (out of stock, delisted) and show others again, for
    every instance within seconds, without retraining."""
    body = {"hide": list(hide), "show": list(show)}
    return Call("postHidden", "POST", "/admin/hidden", HiddenItems, body=body, admin=True)


def _segment(value: str) -> str:
    """One path segment, percent-encoded (an entity id such as ``red shoes`` or ``a/b``)."""
    return quote(value, safe="")


def _ids(given: str | Iterable[str] | None) -> list[str]:
    """One id or several (a bare string is one id, not its characters)."""
    return [given] if isinstance(given, str) else list(given or ())


def _given(options: Mapping[str, str | int | None]) -> Params:
    return tuple((name, value) for name, value in options.items() if value is not None)
