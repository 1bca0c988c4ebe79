"""How long a call waits for the service, and when (and how soon) it tries again.

What may be repeated is decided per call (``Call.idempotent``): reads (every GET, and ``POST
/v1/users/{id}/candidates``, a read with its options in a body) and the admin changes (reload,
hide/show: the same change twice leaves the same state) are retried after a refused
connection, a timeout, a dropped connection or a 429/502/503/504. Posting events is retried
only when the request surely never left (the connection could not be made): after a timeout or
a 503 the batch may be recorded in part or in full, and recording an event without a timestamp
twice moves its item to the front again. docs/client.md ("Retries") says what a caller who
needs every event delivered does.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Failures before any byte of the request left: repeating the request cannot duplicate it."""

NO_ANSWER = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
"""Failures that may come after the service received the request (or part of it)."""


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for a connection (``connect``, also for a free one in the pool) and for
    each read or write of the answer (``read``). The defaults suit a backend calling the service
    in its own request: the service answers in milliseconds or is in trouble."""

    connect: float = 1.0
    read: float = 5.0

    def __post_init__(self) -> None:
        if not (self.connect > 0 and self.read > 0):
            raise ValueError(f"timeouts must be positive seconds, got {self}")

    def for_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect, read=self.read, write=self.read, pool=self.connect
        )


@dataclass(frozen=True)
class Retry:
    """How many times a call is tried and how long it waits in between.

    The n-th retry waits ``backoff * 2**(n-1)`` seconds capped at ``max_backoff``, with jitter:
    a random point between half that and all of it, so that many clients failing at once do
    not come back in step. An answer with ``Retry-After`` is retried after exactly that long,
    unless it asks for more than ``max_retry_after`` seconds: the call then fails at once
    rather than hold its caller. ``Retry(attempts=1)`` never retries.
    """

    attempts: int = 3
    """Tries in all, the first one included."""
    backoff: float = 0.1
    max_backoff: float = 2.0
    max_retry_after: float = 10.0
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    """Answers that mean "not now" and are worth another try (for a call that may repeat)."""

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff < 0 or self.max_backoff < 0:
            raise ValueError(f"attempts must be at least 1 and waits not negative, got {self}")

    def pause(
        self, idempotent: bool, outcome: httpx.Response | httpx.RequestError, attempt: int
    ) -> float | None:
        """Seconds to wait before trying again after ``outcome`` of try ``attempt`` (0 the
        first), or None when the call should stop here (an answer, or a failure to raise)."""
        if attempt + 1 >= self.attempts:
            return None
        if isinstance(outcome, httpx.Response):
            if not idempotent or outcome.status_code not in self.statuses:
                return None
            wait = retry_after(outcome.headers.get("retry-after"))
            if wait is not None:
                return wait if wait <= self.max_retry_after else None
        elif not isinstance(outcome, UNSENT if not idempotent else UNSENT + NO_ANSWER):
            return None
        delay = min(self.max_backoff, self.backoff * 2**attempt)
        return random.uniform(delay / 2, delay)


DEFAULT_TIMEOUTS, DEFAULT_RETRY, NO_RETRY = Timeouts(), Retry(), Retry(attempts=1)


def retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds from now: delay-seconds or an HTTP date; None when
    absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - datetime.now(UTC)).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None
