"""What a failed call raises: one base class to catch, subclasses that say what to do next.

```
ApiError                  every failure of a call; status None when there was no answer
├── RequestRejected       4xx but 429: the request must change, repeating it will not help
│   ├── Unauthorized      401, 403: a missing or wrong API key or admin token
│   ├── NotFound          404: an item or entity the served model does not know
│   └── InvalidRequest    422: ``problems`` says which value, and why
└── Unavailable           no usable answer now (5xx, 429, refused, timed out): try later
    └── TimedOut          no answer within the timeout
```

Each carries the service's ``detail`` (its message), ``problems`` (a 422's ``{loc, msg, type}``
list, docs/api.md "Errors") and the ``request_id`` that the service logged the request under.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Problem:
    """One entry of a 422: ``loc`` names the field (``("query", "k")``), ``msg`` what is
    expected, ``type`` the kind of problem (``value_error``, ``extra_forbidden``, …)."""

    loc: tuple[str | int, ...]
    msg: str
    type: str

    def __str__(self) -> str:
        return f"{'.'.join(map(str, self.loc))}: {self.msg}"


class ApiError(Exception):
    """A call that did not give its answer."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        detail: str,
        problems: tuple[Problem, ...] = (),
        request_id: str | None,
        sent: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status, or None when no answer came (connection refused, timed out)."""
        self.detail = detail
        """The service's message (for a 422, the problems joined), or the transport's error."""
        self.problems = problems
        """A 422's problems, in the service's order; empty for other errors."""
        self.request_id = request_id
        """The ``X-Request-ID`` of the call: the service's answer header, else the one sent."""
        self.sent = sent
        """False when the request surely never reached the service (the connection failed):
        repeating it is safe even for a call that is not idempotent (posting events)."""


class RequestRejected(ApiError):
    """A 4xx other than 429: the request itself is wrong for this service."""


class Unauthorized(RequestRejected):
    """401 (a missing or wrong API key or admin token) or 403 (the admin routes are off)."""


class NotFound(RequestRejected):
    """404: an item or entity the served model does not know."""


class InvalidRequest(RequestRejected):
    """422: a value the service does not accept; ``problems`` names each one."""


class Unavailable(ApiError):
    """No usable answer now, after the retries the policy allows: a 5xx, a 429, a refused
    connection or a timeout. The service may be starting, overloaded or without Redis."""


class TimedOut(Unavailable):
    """The service did not answer (or accept the connection) within the timeout."""


def from_response(response: httpx.Response, request_id: str) -> ApiError:
    """The error a non-answer status stands for, with the service's message and problems."""
    status = response.status_code
    detail, problems = _detail(response)
    rid = response.headers.get("x-request-id", request_id)
    kind: type[ApiError]
    if status in (401, 403):
        kind = Unauthorized
    elif status == 404:
        kind = NotFound
    elif status == 422:
        kind = InvalidRequest
    elif status == 429 or status >= 500:
        kind = Unavailable
    elif 400 <= status < 500:
        kind = RequestRejected
    else:
        kind = ApiError
    request = response.request
    message = f"{status} {request.method} {request.url.path}: {detail} (request id {rid})"
    return kind(message, status=status, detail=detail, problems=problems, request_id=rid)


def from_transport(
    exc: httpx.RequestError, request: httpx.Request, request_id: str, sent: bool
) -> ApiError:
    """The error for a call that got no answer at all."""
    kind = TimedOut if isinstance(exc, httpx.TimeoutException) else Unavailable
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    message = f"no answer to {request.method} {request.url}: {detail} (request id {request_id})"
    return kind(message, status=None, detail=detail, request_id=request_id, sent=sent)


def _detail(response: httpx.Response) -> tuple[str, tuple[Problem, ...]]:
    """The service's ``{"detail": "<message>"}`` or ``{"detail": [{loc, msg, type}, …]}``;
    the start of the text for anything else (a proxy's HTML page, a 431's plain text)."""
    try:
        detail = response.json()["detail"]
    except (ValueError, KeyError, TypeError):
        text = response.text.strip()
        return (text[:200] or response.reason_phrase or "no message"), ()
    if isinstance(detail, list):
        problems = tuple(_problem(p) for p in detail if isinstance(p, dict))
        return "; ".join(map(str, problems)) or json.dumps(detail)[:200], problems
    return str(detail), ()


def _problem(entry: dict[str, object]) -> Problem:
    loc = entry.get("loc")
    parts = tuple(p if isinstance(p, int) else str(p) for p in loc) if isinstance(loc, list) else ()
    return Problem(parts, str(entry.get("msg", "")), str(entry.get("type", "")))
