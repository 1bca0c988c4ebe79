"""The HTTP API's request and response bodies: the JSON contract of docs/api.md."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import HTTPException
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import from_json

from contracts.redis_keys import ID_PATTERN
from service.errors import Unprocessable, validation_detail

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


def _unix_seconds(value: object) -> float:
    """A timestamp as unix seconds: a finite number, or an ISO-8601 string (UTC if no offset).

    Strict on purpose: ``false``, ``"123"``, NaN, infinities and numbers in milliseconds are
    refused rather than guessed at, since a wrong timestamp silently reorders a history.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("expected unix seconds (a number) or an ISO-8601 string")
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value) if len(value) <= 40 else None
        except ValueError:
            when = None
        if when is None:
            raise ValueError("expected an ISO-8601 date-time such as 2026-01-31T12:00:00Z")
        # the first hours of 1970 with a positive offset are before the epoch: its start
        seconds = max((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp(), 0.0)
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_UNIX_SECONDS:
        raise ValueError(
            f"expected unix seconds between 0 and {MAX_UNIX_SECONDS:.0e} (not milliseconds)"
        )
    return seconds


MAX_UNIX_SECONDS = 1e11  # the year 5138: a larger value is a timestamp in milliseconds
YEARS_1970_TO_4999 = r"^(19[7-9][0-9]|[2-4][0-9]{3})-"
Timestamp = Annotated[
    float,
    PlainValidator(_unix_seconds),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": MAX_UNIX_SECONDS},
                {"type": "string", "format": "date-time", "pattern": YEARS_1970_TO_4999},
            ],
            "description": "Unix seconds, or an ISO-8601 date-time of the years 1970 to 4999 "
            "(UTC unless it has an offset).",
        }
    ),
]


class EventIn(BaseModel):
    """One interaction; ``timestamp`` orders a batch (else the batch order does) and keeps a
    late event from displacing newer ones in the user's history."""

    model_config = ConfigDict(extra="forbid")
    user_id: Id
    item_id: Id
    interaction: InteractionName
    timestamp: Timestamp | None = None
    category_id: Id | None = Field(
        None,
        description="The item's category: recorded so that an item the model does not "
        "know can seed candidates from its category's vector.",
    )


class EventBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(min_length=1)


_EVENTS = TypeAdapter(list[EventIn])
_EVENT = TypeAdapter(EventIn)


class MalformedBody(ValueError):
    """The body is not JSON (a 400)."""


def parse_events(raw: bytes, max_events: int) -> list[EventIn]:
    """The events of a ``POST /v1/events`` body: one event, ``{"events": [...]}``, or a bare
    JSON array of events. MalformedBody for a body that is not JSON; errors.Unprocessable (with
    bounded messages) for JSON that is not events or holds more than ``max_events``; the count is
    checked before any event is validated."""
    try:
        body = from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        raise MalformedBody(f"the body is not valid JSON: {str(exc)[:120]}") from None
    loc: tuple[str, ...] = ("body",)
    if isinstance(body, dict) and "events" in body:
        extra = sorted(set(body) - {"events"})[:1]
        if extra:
            raise Unprocessable(
                (*loc, extra[0]), "extra fields are not permitted", "extra_forbidden"
            )
        body, loc = body["events"], ("body", "events")
    if isinstance(body, dict):
        try:
            return [_EVENT.validate_python(body)]
        except ValidationError as exc:
            raise _unprocessable(exc, loc) from None
    if not isinstance(body, list) or not body:
        raise Unprocessable(
            loc, 'expected an event, a non-empty list of events or {"events": [...]}'
        )
    if len(body) > max_events:
        raise Unprocessable(
            loc,
            f"a batch holds at most {max_events} events (EVENTS_BATCH_MAX), got {len(body)}",
            "too_long",
        )
    try:
        return _EVENTS.validate_python(body)
    except ValidationError as exc:
        raise _unprocessable(exc, loc) from None


def _unprocessable(exc: ValidationError, loc: tuple[str, ...]) -> HTTPException:
    errors = [{**e, "loc": (*loc, *e["loc"])} for e in exc.errors(include_input=False)]
    return HTTPException(422, validation_detail(errors))


def events_body_schema(max_events: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The OpenAPI request body of ``POST /v1/events`` and the component schemas it refers to."""
    union = TypeAdapter(EventIn | EventBatchIn | list[EventIn])
    schema = union.json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs")
    definitions["EventBatchIn"]["properties"]["events"]["maxItems"] = max_events
    for option in schema["anyOf"]:
        if option.get("type") == "array":
            option.update(minItems=1, maxItems=max_events)
    body = {
        "required": True,
        "content": {"application/json": {"schema": schema}},
        "description": 'One event, {"events": [...]}, or a JSON array of events.',
    }
    return body, definitions


MAX_CATEGORIES = 100  # categories one candidates request may filter by


class CandidatesQuery(BaseModel):
    """The options of ``POST /v1/users/{user_id}/candidates`` (the GET's, as query parameters)."""

    model_config = ConfigDict(extra="forbid")
    k: int | None = Field(None, ge=1, description="Candidates per module (default K_DEFAULT).")
    k_viewed: int | None = Field(None, ge=1, description="Of the viewed module (default k).")
    k_carted: int | None = Field(None, ge=1, description="Of the carted module (default k).")
    category: list[Id] | None = Field(
        None, max_length=MAX_CATEGORIES, description="Only candidates of these categories."
    )
    offset: int = Field(0, ge=0, description="Skip this many per module (paging).")
    exclude: list[Id] = Field(
        default_factory=list, description="Items never to return (EXCLUDE_MAX_BODY at most)."
    )


class HiddenChange(BaseModel):
    """Items to hide from every answer and items to show again."""

    model_config = ConfigDict(extra="forbid")
    hide: list[Id] = Field(default_factory=list, max_length=10_000)
    show: list[Id] = Field(default_factory=list, max_length=10_000)


class HiddenOut(_Out):
    hidden: int = Field(description="Items hidden now.")
    version: int = Field(description="The hidden set's version counter after the change.")


class EventsAccepted(_Out):
    accepted: int


class Ready(_Out):
    ready: bool = Field(description="A model is loaded: this instance answers requests.")
    model_version: str | None = Field(description="The served version (CURRENT's, or pinned).")
    redis: bool = Field(description="Redis answered a PING; when false, answers are degraded.")
    detail: str = ""
    pinned: bool = Field(False, description="The served version is PIN_VERSION, not CURRENT's.")
    canary_version: str | None = Field(
        None, description="The canary version loaded beside the served one (None: none loaded)."
    )
    canary_percent: float = Field(
        0.0, description="Share of users (%) the canary answers: 0 while it is not loaded."
    )


class ReloadOut(_Out):
    result: Literal["loaded", "unchanged", "refused", "missing"]
    model_version: str | None
    detail: str
    canary_version: str | None = Field(None, description="The canary loaded after the reload.")
