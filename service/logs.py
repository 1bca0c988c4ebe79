"""Structured JSON logs, one line per record, and a request id on every request.

Each request gets an id (the caller's ``X-Request-ID`` when it is sane, else a new one),
returned in the response header and attached to every log line written while it runs, so a
request can be followed across lines. One access line per request carries route, status and
latency (``ACCESS_LOG=false`` keeps only those of 5xx answers); the same figures feed the latency
histogram either way. With tracing on (service/tracing.py) every line written inside a span,
the access line included, also names the trace and span (``trace_id``, ``span_id``), so a slow
request's line leads to its trace and a trace to its lines.

The access line is the one record written without a ``LogRecord``: its fields go straight to
``FORMATTER.line`` and the line to stderr, where ``configure``'s handler writes the others (the
same shape, the same stream; a level above INFO silences it too). With the request id read
from the raw headers, that took a candidates request from 0.92 to 0.84 ms of worker CPU
(docs/benchmarks.md, "CPU per request").
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts import json_logs
from service import metrics, tracing

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
log = logging.getLogger("service.access")


class JsonFormatter(json_logs.JsonFormatter):
    """``{"time", "level", "logger", "message", "request_id", …extra fields}`` per line
    (contracts/json_logs.py: the time in UTC with milliseconds, whatever the host's zone), and
    ``trace_id``/``span_id`` inside a span when tracing is on."""

    def context(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"request_id": request_id.get()}
        if tracing.enabled:
            fields.update(tracing.log_fields())
        return fields


FORMATTER = JsonFormatter()


def configure(level: str) -> None:
    """Send every logger's records to stderr as JSON lines."""
    handler = json_logs.StderrHandler()
    handler.setFormatter(FORMATTER)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = name != "uvicorn.access"


class RequestContext:
    """Request id, access log line and latency histogram for every HTTP request.

    A plain ASGI middleware (not Starlette's BaseHTTPMiddleware, which costs a task and a
    stream per request on the hot path).
    """

    def __init__(self, app: ASGIApp, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode(
            "latin-1"
        )
        rid = given if _SANE_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            template = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            metrics.child(metrics.REQUEST_SECONDS, template, method, str(status)).observe(seconds)
            if (self.access_log or status >= 500) and log.isEnabledFor(logging.INFO):
                fields = {"method": method, "route": template, "status": status,
                          "ms": round(seconds * 1000, 3)}  # fmt: skip
                line = FORMATTER.line(time.time(), "INFO", log.name, "request", fields)
                sys.stderr.write(line + "\n")  # as configure's handler would: see above
            request_id.reset(token)
