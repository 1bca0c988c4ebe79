"""A typed Python client of the candidates service's HTTP API (docs/api.md, docs/client.md).

``pip install 'interaction-candidates[client]'`` installs it with httpx; it needs nothing of
the service (no FastAPI, numba or Redis client)::

    from client import CandidatesClient, Event

    with CandidatesClient("http://candidates:8000", api_key=KEY, timeout=0.5) as api:
        api.post_events(Event(user_id="u1", item_id="i42", interaction="view"))
        answer = api.candidates("u1", k=20, exclude=on_the_page)
        for module in answer.modules:
            print(module.title, [(c.item_id, c.because.item_id) for c in module.candidates])

``AsyncCandidatesClient`` has the same methods as coroutines.
"""

from client.asynchronous import AsyncCandidatesClient
from client.errors import (
    ApiError,
    InvalidRequest,
    NotFound,
    Problem,
    RequestRejected,
    TimedOut,
    Unauthorized,
    Unavailable,
)
from client.models import (
    Because,
    Candidate,
    Candidates,
    EntityNeighbor,
    EntityNeighbors,
    Event,
    EventsAccepted,
    Health,
    HiddenItems,
    ItemNeighbors,
    Module,
    Ready,
    ReloadResult,
)
from client.policy import NO_RETRY, Retry, Timeouts
from client.sync import CandidatesClient

__all__ = [
    "NO_RETRY",
    "ApiError",
    "AsyncCandidatesClient",
    "Because",
    "Candidate",
    "Candidates",
    "CandidatesClient",
    "EntityNeighbor",
    "EntityNeighbors",
    "Event",
    "EventsAccepted",
    "Health",
    "HiddenItems",
    "InvalidRequest",
    "ItemNeighbors",
    "Module",
    "NotFound",
    "Problem",
    "Ready",
    "ReloadResult",
    "RequestRejected",
    "Retry",
    "TimedOut",
    "Timeouts",
    "Unauthorized",
    "Unavailable",
]
