"""POST /v1/events: interactions into the users' Redis histories."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from contracts.interactions import Interaction
from service import metrics
from service.deps import SettingsDep, StoreDep
from service.history import Event, HistoryUnavailable
from service.schemas import EventBatchIn, EventIn, EventsAccepted

router = APIRouter(tags=["events"])


@router.post(
    "/v1/events",
    status_code=202,
    response_model=EventsAccepted,
    responses={503: {"description": "Redis is unavailable; retry the batch (replaying is safe)."}},
)
async def ingest(
    body: EventIn | EventBatchIn, settings: SettingsDep, store: StoreDep
) -> EventsAccepted:
    """Record one event or a batch (by timestamp when every event has one, else as sent)."""
    events = body.events if isinstance(body, EventBatchIn) else [body]
    if len(events) > settings.events_batch_max:
        raise HTTPException(
            422, f"a batch holds at most {settings.events_batch_max} events, got {len(events)}"
        )
    if all(e.timestamp is not None for e in events):
        events = sorted(events, key=lambda e: e.timestamp or 0.0)
    batch = [
        Event(e.user_id, e.item_id, Interaction.parse(e.interaction), e.category_id) for e in events
    ]
    try:
        with metrics.timed(metrics.REDIS_SECONDS, "record"):
            written = await store.record(batch)
    except HistoryUnavailable as exc:
        metrics.REDIS_ERRORS.labels("record").inc()
        raise HTTPException(
            503, f"history store unavailable ({exc}); part of the batch may be written, retry it"
        ) from exc
    for event in batch:
        metrics.EVENTS.labels(event.interaction.label).inc()
    return EventsAccepted(accepted=written)
