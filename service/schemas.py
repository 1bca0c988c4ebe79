"""The HTTP API's request and response bodies: the JSON contract of docs/api.md."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts.redis_keys import ID_PATTERN

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN.pattern)]
InteractionName = Literal["view", "favorite", "cart", "purchase"]
EntityKind = Literal["query", "category", "shop"]
TargetName = Literal["view", "favorite", "cart", "purchase", "query", "category", "shop"]
"""What a neighbours request searches: an interaction's items or an entity kind's tokens."""
ENTITY_ID_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]{1,256}$"
"""Entity ids (queries such as "red shoes", categories, shops): 1 to 256 printable characters.
No Redis key is built from them, so the strict ``ID_PATTERN`` does not apply."""


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Because(_Out):
    """Why a candidate is here: the seed that found it, or popularity (in a category).

    ``seed``: an item seed is ``item_id`` + ``interaction`` (+ ``category_id`` for a cold seed,
    an item the model does not know, searched by its category's vector); an entity seed is
    ``entity_kind`` + ``entity_id``, two fields present only then. ``popular_in_category``: the
    module's neighbours ran short of k (the version's blend rule drops weak ones), so a best
    seller of the seed ``item_id``'s category ``category_id`` fills in. ``popular``: a popular
    item, of ``category_id`` in the cold-start fallback, else overall.
    """

    reason: Literal["seed", "popular_in_category", "popular"]
    item_id: str | None = Field(
        None, description="The seed item (of a neighbour or of a popular_in_category backfill)."
    )
    interaction: InteractionName | None = Field(None, description="The seed's interaction.")
    category_id: str | None = Field(
        None,
        description="The category of a popular item (the seed's, for popular_in_category) or "
        "of a cold seed.",
    )
    entity_kind: EntityKind | None = Field(None, description="An entity seed's kind.")
    entity_id: str | None = Field(None, description="An entity seed's id.")


class CandidateOut(_Out):
    item_id: str
    score: float = Field(
        description="Similarity to the seed (cosine or u·v), or popularity (embedding popular)."
    )
    interaction: InteractionName | None = Field(
        description="The predicted interaction: the index the candidate was found in."
    )
    embedding: Literal["item-interaction", "item", "category", "entity", "popular"] = Field(
        description="item-interaction: the seed's pair vector; item: the seed had no pair "
        "vector and its no-interaction vector was used; category: the seed is an item the model "
        "does not know, searched with its category's vector; entity: the seed is an entity "
        "token (a query, category or shop); popular: a popular item, either the cold-start "
        "fallback or the backfill after a module's neighbours (because.reason "
        "popular_in_category, then popular), which comes last and has interaction null."
    )
    because: Because


class EntityOut(_Out):
    """One neighbouring entity token and why."""

    kind: EntityKind
    entity_id: str
    score: float = Field(description="Similarity to the seed (cosine or u·v).")
    because: Because


class ModuleOut(_Out):
    name: Literal["viewed", "carted", "popular"]
    title: str
    seed_interaction: InteractionName | None
    target_interactions: list[InteractionName]
    seeds: list[str] = Field(description="The seeds used, newest first.")
    unknown_seeds: list[str] = Field(description="History items the model does not know.")
    candidates: list[CandidateOut]


class CandidatesOut(_Out):
    user_id: str
    model_version: str
    modules: list[ModuleOut]
    fallback: Literal["popular"] | None = Field(
        description="popular: the user has no usable history (or Redis is unavailable)."
    )
    degraded: bool = Field(description="true: Redis was unavailable; history was not read.")


Neighbors = list[CandidateOut] | list[EntityOut]


class NeighborsOut(_Out):
    item_id: str
    interaction: InteractionName
    target: TargetName
    model_version: str
    neighbors: Neighbors = Field(
        description="Items for an interaction target, entities for an entity-kind target."
    )


class EntityNeighborsOut(_Out):
    kind: EntityKind
    entity_id: str
    target: TargetName
    model_version: str
    neighbors: Neighbors = Field(
        description="Items for an interaction target, entities (never the seed itself) for an "
        "entity-kind target."
    )


class EventIn(BaseModel):
    """One interaction; ``timestamp`` (unix seconds) orders a batch, else the batch order does."""

    model_config = ConfigDict(extra="forbid")
    user_id: Id
    item_id: Id
    interaction: InteractionName
    timestamp: float | None = Field(None, ge=0)
    category_id: Id | None = Field(
        None,
        description="The item's category: recorded so that an item the model does not "
        "know can seed candidates from its category's vector.",
    )


class EventBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(min_length=1, max_length=100_000)


class EventsAccepted(_Out):
    accepted: int


class Ready(_Out):
    ready: bool
    model_version: str | None
    redis: bool
    detail: str = ""


class ReloadOut(_Out):
    result: Literal["loaded", "unchanged", "refused", "missing"]
    model_version: str | None
    detail: str
