"""The service's answers (and the event it takes) as the client's own typed, immutable models.

They mirror the response schemas of the service's OpenAPI document (``service/schemas.py``)
without importing the service, so that the client needs only httpx and pydantic;
``tests/client/test_contract.py`` compares them with the document, field by field, so the two
cannot drift apart silently. Unknown fields are ignored: a newer service that adds a field does
not break an older client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Interaction = Literal["view", "favorite", "cart", "purchase"]
EntityKind = Literal["query", "category", "shop"]
Target = Literal["view", "favorite", "cart", "purchase", "query", "category", "shop"]
"""What a neighbours request searches: an interaction's items or an entity kind's tokens."""


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Because(_Answer):
    """Why a candidate is here. ``reason`` ``seed``: the seed ``item_id`` (+ ``interaction``;
    + ``category_id`` for a cold seed) or the entity ``entity_kind``/``entity_id`` found it;
    ``popular_in_category``: a best seller of the seed's category filled the module up;
    ``popular``: a popular item (of ``category_id`` in the cold-start fallback, else overall)."""

    reason: Literal["seed", "popular_in_category", "popular"]
    item_id: str | None = None
    interaction: Interaction | None = None
    category_id: str | None = None
    entity_kind: EntityKind | None = None
    entity_id: str | None = None


class Candidate(_Answer):
    """One candidate item: ``score`` is the similarity to its seed, or the popularity of a
    ``popular`` one; ``interaction`` the index it came from (None for popular items)."""

    item_id: str
    score: float
    interaction: Interaction | None
    embedding: Literal["item-interaction", "item", "category", "entity", "popular"]
    because: Because


class EntityNeighbor(_Answer):
    """One neighbouring entity token (a query, category or shop)."""

    kind: EntityKind
    entity_id: str
    score: float
    because: Because


class Module(_Answer):
    """One module of a candidates answer: its seeds (newest first) and its candidates."""

    name: Literal["viewed", "carted", "popular"]
    title: str
    seed_interaction: Interaction | None
    target_interactions: list[Interaction]
    seeds: list[str]
    unknown_seeds: list[str]
    candidates: list[Candidate]

    @property
    def item_ids(self) -> list[str]:
        return [c.item_id for c in self.candidates]


class Candidates(_Answer):
    """A user's candidates: ``viewed`` and ``carted`` modules, or one ``popular`` module when
    ``fallback`` is ``"popular"`` (no usable history; ``degraded``: Redis was unavailable)."""

    user_id: str
    model_version: str
    modules: list[Module]
    fallback: Literal["popular"] | None
    degraded: bool

    def module(self, name: str) -> Module | None:
        """The module ``name`` (``viewed``, ``carted``, ``popular``) if the answer has it."""
        return next((m for m in self.modules if m.name == name), None)


class ItemNeighbors(_Answer):
    """Because you ``interaction`` ``item_id``, you may ``target`` these: items for an
    interaction target, entities for an entity-kind target."""

    item_id: str
    interaction: Interaction
    target: Target
    model_version: str
    neighbors: list[Candidate] | list[EntityNeighbor]


class EntityNeighbors(_Answer):
    """The items (interaction target) or entities (kind target) nearest to an entity token."""

    kind: EntityKind
    entity_id: str
    target: Target
    model_version: str
    neighbors: list[Candidate] | list[EntityNeighbor]


class EventsAccepted(_Answer):
    accepted: int


class Health(_Answer):
    status: str


class Ready(_Answer):
    """Whether the instance can answer (a model is loaded) and whether Redis answers (when it
    does not, candidates are the degraded popular answer, still a 200)."""

    ready: bool
    model_version: str | None
    redis: bool
    detail: str = ""
    pinned: bool = False  # the served version is PIN_VERSION, not CURRENT's
    canary_version: str | None = None  # a canary loaded beside it (docs/operations.md)
    canary_percent: float = 0.0  # the share of users it answers


class ReloadResult(_Answer):
    result: Literal["loaded", "unchanged", "refused", "missing"]
    model_version: str | None
    detail: str
    canary_version: str | None = None


class HiddenItems(_Answer):
    """The hidden set after a change: its size and its version counter."""

    hidden: int
    version: int


class Event(BaseModel):
    """One interaction to record. ``timestamp``: unix seconds or a datetime (UTC unless it
    has a tz); without one the service uses the arrival time. ``category_id`` lets an item the
    model does not know yet seed candidates from its category."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: str
    item_id: str
    interaction: Interaction
    timestamp: float | datetime | None = None
    category_id: str | None = None
