"""POST /v1/events: interactions into the users' Redis histories."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from contracts.interactions import Interaction
from service import metrics, tracing
from service.deps import SettingsDep, StoreDep
from service.history import Event, HistoryUnavailable
from service.schemas import EventIn, EventsAccepted, MalformedBody, parse_events

router = APIRouter(tags=["events"])

INLINE_BODY_BYTES = 64 * 1024
"""Bodies up to this size are parsed on the event loop (well under a millisecond); larger ones
in a thread, so that a big batch cannot hold up the worker's other requests."""


@router.post(
    "/v1/events",
    status_code=202,
    response_model=EventsAccepted,
    operation_id="postEvents",
    summary="Record interactions in the users' histories",
    responses={
        400: {"description": "The body is not JSON."},
        413: {"description": "The body is larger than MAX_BODY_BYTES."},
        503: {"description": "Redis is unavailable; retry the batch (replaying is safe)."},
    },
)
async def ingest(request: Request, settings: SettingsDep, store: StoreDep) -> EventsAccepted:
    """Record one event, a batch `{"events": [...]}` or a JSON array of events, in timestamp
    order when every event has one, else as sent. The body schema is in OpenAPI (app.py)."""
    raw = await request.body()
    try:
        if len(raw) <= INLINE_BODY_BYTES:
            events = parse_events(raw, settings.events_batch_max)
        else:
            events = await run_in_threadpool(parse_events, raw, settings.events_batch_max)
    except MalformedBody as exc:
        raise HTTPException(400, str(exc)) from None
    batch = [_event(e) for e in _in_time_order(events)]
    try:
        with tracing.span("history.record") as span, metrics.timed(metrics.REDIS_SECONDS, "record"):
            written = await store.record(batch)
            if span is not None:
                span.set_attributes({"ic.events": len(batch), "ic.written": written})
    except HistoryUnavailable as exc:
        metrics.REDIS_ERRORS.labels("record").inc()
        raise HTTPException(
            503, f"history store unavailable ({exc}); part of the batch may be written, retry it"
        ) from exc
    for event in batch:
        metrics.EVENTS.labels(event.interaction.label).inc()
    return EventsAccepted(accepted=written)


def _in_time_order(events: list[EventIn]) -> list[EventIn]:
    if all(e.timestamp is not None for e in events):
        return sorted(events, key=lambda e: e.timestamp or 0.0)
    return events


def _event(e: EventIn) -> Event:
    return Event(e.user_id, e.item_id, Interaction.parse(e.interaction), e.category_id, e.timestamp)
