"""The HTTP API's request and response bodies: the JSON contract of docs/api.md."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts.redis_keys import ID_PATTERN

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN.pattern)]
InteractionName = Literal["view", "favorite", "cart", "purchase"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Because(_Out):
    """Why a candidate is here: the seed that found it, or popularity (in a category)."""

    reason: Literal["seed", "popular"]
    item_id: str | None = None
    interaction: InteractionName | None = None
    category_id: str | None = None


class CandidateOut(_Out):
    item_id: str
    score: float = Field(description="Similarity to the seed (cosine or u·v), or popularity.")
    interaction: InteractionName | None = Field(
        description="The predicted interaction: the index the candidate was found in."
    )
    embedding: Literal["item-interaction", "item", "popular"] = Field(
        description="item-interaction: the seed's pair vector; item: the seed had no pair "
        "vector and its no-interaction vector was used; popular: a fallback."
    )
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


class NeighborsOut(_Out):
    item_id: str
    interaction: InteractionName
    target: InteractionName
    model_version: str
    neighbors: list[CandidateOut]


class EventIn(BaseModel):
    """One interaction; ``timestamp`` (unix seconds) orders a batch, else the batch order does."""

    model_config = ConfigDict(extra="forbid")
    user_id: Id
    item_id: Id
    interaction: InteractionName
    timestamp: float | None = Field(None, ge=0)


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
