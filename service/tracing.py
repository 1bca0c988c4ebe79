"""OpenTelemetry spans of each request, exported by OTLP/HTTP — or nothing at all.

**On** when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set
(``Settings``). A candidates request is then one trace::

    GET /v1/users/{user_id}/candidates     SERVER; continues the caller's W3C ``traceparent``
    ├── history.read                       the user's lists and the hidden counter (Redis)
    ├── retrieval.viewed                   one module: seeds → neighbours → merge → backfill
    │   └── merge                          the fair merge of its seeds' neighbours
    ├── retrieval.carted
    │   └── merge
    └── render                             the body's dicts and their JSON encoding

(``retrieval.popular`` instead of the modules for a cold-start or degraded answer;
``history.categories`` and ``history.hidden`` when those Redis reads happen; ``neighbors`` under
the neighbour routes, ``history.record`` under ``POST /v1/events``.) The request span carries
the route template, status, model version (``ic.model_version``, from the answer's
``X-Model-Version``), request id and the answer's figures; never a user id, an item id, a URL or
a query string: a user's request is found by its request id, or by the trace id that every log
line written during it carries (service/logs.py).

**Off** (no endpoint), nothing of the tracing extra (the SDK, the exporter, protobuf) is
imported, no middleware is added, and a span site on the request path costs one call returning
the shared ``nullcontext`` (``span``), or the ``enabled`` check before work done only for spans.
(The OpenTelemetry *API* is loaded all the same: FastAPI imports it, a dependency of its own.)

Each worker process builds its own provider when its app starts (``start``, from the app's
lifespan): the batch processor's export thread belongs to the process whose spans it exports,
and with ``WORKERS`` > 1 each worker is a process of its own. ``stop`` exports what is queued at
shutdown, within ``STOP_SECONDS`` (a collector that is down must not hold up a rollout). The
SDK reads its other standard variables itself (``OTEL_BSP_*``, ``OTEL_EXPORTER_OTLP_HEADERS``,
``…_TIMEOUT``, ``…_COMPRESSION``, ``OTEL_RESOURCE_ATTRIBUTES``).

The provider is this module's, never OpenTelemetry's global one: once a global provider is set,
FastAPI (0.16x) traces every request itself, with spans of its own per dependency and the URL's
path and query as attributes — which hold the user id and the caller's exclude list.
"""

from __future__ import annotations

import contextvars
import importlib.util
import os
import socket
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import Sampler
    from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    from starlette.applications import Starlette

    from service.settings import Settings

EXTRA = "pip install 'interaction-candidates[tracing]'"
REQUIRED = ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http")
STOP_SECONDS = 5.0
W3C_HEADERS = (b"traceparent", b"tracestate")
RESPONSE_ATTRIBUTES = {b"x-model-version": "ic.model_version", b"x-request-id": "ic.request_id"}

enabled = False
"""True while this process exports spans (between ``start`` and ``stop``)."""

_OFF: AbstractContextManager[None] = nullcontext()


@dataclass(frozen=True)
class _On:
    """What the request path uses while tracing is on (bound once: no import per request)."""

    provider: TracerProvider
    tracer: Tracer
    propagator: TraceContextTextMapPropagator
    current_span: Callable[[], Span]
    server: SpanKind
    error: StatusCode  # its ERROR


_on: _On | None = None
_request: contextvars.ContextVar[Span | None] = contextvars.ContextVar("request_span", default=None)


class TracingUnavailable(RuntimeError):
    """An OTLP endpoint is set but the tracing extra is not installed."""


def missing_extra(settings: Settings) -> str | None:
    """The one-line start-up error when an endpoint is set without the packages to export to
    it; None when tracing is off or can start. Looks the packages up without importing them."""
    variable = settings.otlp_variable
    if variable is None:
        return None
    try:
        found = all(importlib.util.find_spec(name) is not None for name in REQUIRED)
    except (ImportError, ValueError):  # a parent package missing, or blocked in sys.modules
        found = False
    return None if found else f"{variable} is set but the tracing extra is not installed: {EXTRA}"


def install(app: Starlette, settings: Settings) -> None:
    """The request span's middleware, when an endpoint is set; call it after every other
    ``add_middleware``, so that it is outermost and the access log line, written inside it,
    carries the trace id. Nothing at all otherwise."""
    if settings.otlp_traces_endpoint is not None:
        app.add_middleware(ServerSpan)


def start(settings: Settings) -> None:
    """This process's tracer provider, exporting in batches to the configured endpoint (no-op
    without one). TracingUnavailable when the extra is not installed."""
    global _on, enabled
    endpoint = settings.otlp_traces_endpoint
    if endpoint is None or _on is not None:
        return
    problem = missing_extra(settings)
    if problem is not None:
        raise TracingUnavailable(problem)
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    version = _package_version()
    resource = Resource.create(
        {
            "service.name": settings.otel_service_name,
            "service.version": version,
            "host.name": socket.gethostname(),
            "process.pid": os.getpid(),  # one provider per worker process
        }
    )
    provider = TracerProvider(sampler=_sampler(settings), resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    _on = _On(
        provider=provider,
        tracer=provider.get_tracer("service", version),
        propagator=TraceContextTextMapPropagator(),
        current_span=trace.get_current_span,
        server=trace.SpanKind.SERVER,
        error=trace.StatusCode.ERROR,
    )
    enabled = True


def stop() -> None:
    """Export the queued spans (within ``STOP_SECONDS``) and end this process's provider."""
    global _on, enabled
    on, _on, enabled = _on, None, False
    if on is not None:
        flusher = threading.Thread(target=on.provider.shutdown, name="tracing-stop", daemon=True)
        flusher.start()
        flusher.join(STOP_SECONDS)


def span(name: str) -> AbstractContextManager[Span | None]:
    """A child of the current span, current inside the block (its ``as`` value, for
    attributes); the shared no-op, whose value is None, when tracing is off or the request
    is not sampled (every built-in sampler would drop its children too: they are not even
    made, which keeps an unsampled request's cost to its request span)."""
    on = _on
    if on is None:
        return _OFF
    request = _request.get()
    if request is not None and not request.is_recording():
        return _OFF
    return on.tracer.start_as_current_span(name)


def annotate(attributes: Mapping[str, str | bool | int | float]) -> None:
    """Add ``attributes`` to the request's span (the answer's figures, from the route)."""
    request = _request.get()
    if request is not None:
        request.set_attributes(attributes)


def log_fields() -> dict[str, str]:
    """``trace_id`` (32 hex) and ``span_id`` (16 hex) of the current span, for a log line;
    empty outside a span or when tracing is off."""
    on = _on
    if on is None:
        return {}
    context = on.current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


class ServerSpan:
    """The request's span (kind SERVER), continuing the caller's ``traceparent``.

    Named ``METHOD /route/{template}`` once routed (the method alone for an unmatched path),
    with ``http.request.method``, ``http.route``, ``http.response.status_code``,
    ``ic.request_id`` and, for answers of a model, ``ic.model_version``; a 5xx (or an
    exception) marks it as an error. A plain ASGI middleware, like service/logs.py's.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        on = _on
        if on is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in W3C_HEADERS
        }
        parent = on.propagator.extract(carrier) if carrier else None
        status = 500
        attributes = {"http.request.method": method}
        with on.tracer.start_as_current_span(
            method, context=parent, kind=on.server, attributes=attributes
        ) as request:

            async def send_traced(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    for name, value in message.get("headers", ()):
                        if name in RESPONSE_ATTRIBUTES:
                            request.set_attribute(RESPONSE_ATTRIBUTES[name], value.decode())
                await send(message)

            token = _request.set(request)
            try:
                await self.app(scope, receive, send_traced)
            finally:
                _request.reset(token)
                template = getattr(scope.get("route"), "path", None)
                if template is not None:
                    request.update_name(f"{method} {template}")
                    request.set_attribute("http.route", template)
                request.set_attribute("http.response.status_code", status)
                if status >= 500:
                    request.set_status(on.error)


def _sampler(settings: Settings) -> Sampler:
    """``OTEL_TRACES_SAMPLER`` (with its ``_ARG`` for the ratio ones, 1.0 unset) as an object."""
    from opentelemetry.sdk.trace import sampling

    ratio = 1.0 if settings.otel_traces_sampler_arg is None else settings.otel_traces_sampler_arg
    return {
        "always_on": lambda: sampling.ALWAYS_ON,
        "always_off": lambda: sampling.ALWAYS_OFF,
        "parentbased_always_on": lambda: sampling.ParentBased(sampling.ALWAYS_ON),
        "parentbased_always_off": lambda: sampling.ParentBased(sampling.ALWAYS_OFF),
        "traceidratio": lambda: sampling.TraceIdRatioBased(ratio),
        "parentbased_traceidratio": lambda: sampling.ParentBasedTraceIdRatio(ratio),
    }[settings.otel_traces_sampler]()


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("interaction-candidates")
    except metadata.PackageNotFoundError:
        return "unknown"
