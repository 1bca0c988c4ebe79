"""Tracing (service/tracing.py) with real parts: ``python -m service --workers 2`` exporting by
OTLP/HTTP to a receiver started here, which decodes each body as a collector would. A request
that names its caller's span continues the caller's trace, in spans named and nested as
docs/operations.md "Tracing" says; the access log line names the same trace; each worker
exports its own spans, at the latest when it stops. Off, the service imports nothing of the
tracing extra; an endpoint without the extra installed stops the start with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from contracts.interactions import Interaction
from demo.redis import EmbeddedRedis
from service.model import Model

from app_fixtures import Trained, items_with
from running import refused_start, running_service, wait_until, worker_pids

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
USER = "traced-user-42"
REQUEST_ID = "traced-request-1"
UNSAMPLED_TRACE = "5bf92f3577b34da6a3ce929d0e0e4736"


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]
    pid: int  # the exporting process (resource attribute process.pid)


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver on a free loopback port: POST /v1/traces, protobuf."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[Span] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def received(self) -> list[Span]:
        with self.lock:
            return list(self.spans)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        spans = _decode(ExportTraceServiceRequest.FromString(body))
        with self.server.lock:
            self.server.paths.append(self.path)
            self.server.spans.extend(spans)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _decode(request: ExportTraceServiceRequest) -> list[Span]:
    found = []
    for resource in request.resource_spans:
        pid = _attributes(resource.resource.attributes)["process.pid"]
        for scope in resource.scope_spans:
            for s in scope.spans:
                found.append(
                    Span(s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(),
                         s.kind, _attributes(s.attributes), pid)
                )  # fmt: skip
    return found


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in pairs}


@dataclass(frozen=True)
class Traced:
    """What one run of the traced service left: the spans, answers and the service's log."""

    spans: list[Span]
    paths: list[str]
    answer: dict[str, Any]
    log: str
    worker_pids: set[int]

    def named(self, name: str) -> list[Span]:
        return [s for s in self.spans if s.name == name]

    def children(self, parent: Span) -> list[Span]:
        return [s for s in self.spans if s.parent_id == parent.span_id]

    def request(self, name: str, trace_id: str | None = None) -> Span:
        """The first span named ``name`` (of trace ``trace_id`` when given)."""
        return next(s for s in self.named(name) if trace_id is None or s.trace_id == trace_id)


def get(url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def traced(
    trained: Trained,
    model: Model,
    redis_server: EmbeddedRedis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Traced]:
    """One run: events in, a candidates request its caller sampled and one it did not, a
    neighbours request and 16 more candidates requests (new connections, so both workers
    answer), with a batch delay longer than the run: every span reaches the receiver only when
    its worker stops."""
    folder = tmp_path_factory.mktemp("traced")
    artifacts_dir = trained.copy_to(folder / "artifacts")
    redis_server.ensure_running()
    with redis.Redis.from_url(redis_server.url, socket_timeout=2) as client:
        client.flushall()
    views = items_with(model, Interaction.VIEW)[:4]
    carts = items_with(model, Interaction.CART)[:2]
    events = [{"user_id": USER, "item_id": i, "interaction": "view"} for i in views]
    events += [{"user_id": USER, "item_id": i, "interaction": "cart"} for i in carts]
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "60000",
        "ACCESS_LOG": "true",
    }
    try:
        with running_service(artifacts_dir, redis_server.url, folder, workers=2, **env) as service:
            body = json.dumps({"events": events}).encode()
            post = urllib.request.Request(
                f"{service.url}/v1/events", body, {"Content-Type": "application/json"}
            )
            urllib.request.urlopen(post, timeout=10).close()
            traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
            answer = get(
                f"{service.url}/v1/users/{USER}/candidates?k=10",
                {"traceparent": traceparent, "X-Request-ID": REQUEST_ID},
            )
            get(
                f"{service.url}/v1/users/{USER}/candidates?k=10",
                {"traceparent": f"00-{UNSAMPLED_TRACE}-{CALLER_SPAN}-00", "X-Request-ID": "no"},
            )
            get(f"{service.url}/v1/items/{views[0]}/neighbors?interaction=view&target=view&k=5")
            for _ in range(16):
                get(f"{service.url}/v1/users/{USER}/candidates?k=10")
            early = len(receiver.received())
            pids = set(worker_pids(service.pid))
        wait_until(lambda: len({s.pid for s in receiver.received()}) >= 2, 10)
        assert early == 0, "spans were exported before the batch delay or the shutdown"
        yield Traced(receiver.received(), receiver.paths, answer, service.log.read_text(), pids)
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_a_candidates_request_continues_the_callers_trace_in_one_span_per_step(traced):
    request = traced.request("GET /v1/users/{user_id}/candidates", CALLER_TRACE)
    assert request.parent_id == CALLER_SPAN and request.kind == 2  # SPAN_KIND_SERVER
    steps = {s.name: s for s in traced.children(request)}
    assert set(steps) == {"history.read", "retrieval.viewed", "retrieval.carted", "render"}
    for module in ("retrieval.viewed", "retrieval.carted"):
        assert [s.name for s in traced.children(steps[module])] == ["merge"]
    in_trace = [s for s in traced.spans if s.trace_id == CALLER_TRACE]
    assert len(in_trace) == 7  # the request, its four steps, two merges


def test_the_request_span_names_the_model_version_and_the_answer_but_no_user(traced):
    request = traced.request("GET /v1/users/{user_id}/candidates", CALLER_TRACE)
    version = traced.answer["model_version"]
    assert request.attributes["ic.model_version"] == version
    assert request.attributes["http.route"] == "/v1/users/{user_id}/candidates"
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["ic.request_id"] == REQUEST_ID
    assert request.attributes["ic.k_viewed"] == 10 and request.attributes["ic.seeds"] == 6
    returned = sum(len(m["candidates"]) for m in traced.answer["modules"])
    assert request.attributes["ic.candidates"] == returned
    viewed = next(s for s in traced.children(request) if s.name == "retrieval.viewed")
    assert viewed.attributes["ic.model_version"] == version and viewed.attributes["ic.seeds"] == 4
    assert not [s for s in traced.spans if USER in json.dumps(s.attributes)]


def test_the_neighbour_and_event_routes_have_their_spans(traced):
    events = traced.request("POST /v1/events")
    assert [(s.name, s.attributes["ic.events"]) for s in traced.children(events)] == [
        ("history.record", 6)
    ]
    neighbors = traced.request("GET /v1/items/{item_id}/neighbors")
    (search,) = traced.children(neighbors)
    assert search.name == "neighbors" and search.attributes["ic.target"] == "view"
    assert neighbors.attributes["ic.model_version"] == traced.answer["model_version"]


def test_the_access_log_line_names_the_trace_and_the_request_span(traced):
    request = traced.request("GET /v1/users/{user_id}/candidates", CALLER_TRACE)
    lines = [json.loads(line) for line in traced.log.splitlines() if line.startswith("{")]
    (access,) = [
        x for x in lines if x.get("request_id") == REQUEST_ID and x["message"] == "request"
    ]
    assert access["trace_id"] == CALLER_TRACE and access["span_id"] == request.span_id


def test_a_request_the_caller_did_not_sample_exports_nothing_but_logs_its_trace(traced):
    assert not [s for s in traced.spans if s.trace_id == UNSAMPLED_TRACE]
    lines = [json.loads(line) for line in traced.log.splitlines() if line.startswith("{")]
    (access,) = [x for x in lines if x["message"] == "request" and x["request_id"] == "no"]
    assert access["trace_id"] == UNSAMPLED_TRACE


def test_each_worker_exports_its_own_spans_when_it_stops(traced):
    assert {s.pid for s in traced.spans} == traced.worker_pids
    assert set(traced.paths) == {"/v1/traces"}
    assert len(traced.named("GET /v1/users/{user_id}/candidates")) == 17


CHECK_OFF = """
import sys
# Both import some of OpenTelemetry themselves: FastAPI its API (a dependency of its own),
# redis-py the SDK's metrics when the SDK is installed (as the tracing extra installs it).
import fastapi
import redis.asyncio

before = set(sys.modules)
from fastapi.testclient import TestClient
from service.app import create_app
from service.settings import Settings

settings = Settings(artifacts_dir=sys.argv[1], redis_url=sys.argv[2], reload_interval_seconds=0)
with TestClient(create_app(settings)) as client:
    status = client.get("/v1/users/someone/candidates?k=5").status_code
extra = ("opentelemetry", "google", "requests")  # the SDK, the exporter, protobuf, its HTTP client
print(status, sorted(m for m in set(sys.modules) - before if m.split(".")[0] in extra))
"""


def test_off_nothing_of_the_tracing_extra_is_imported(artifacts_dir, redis_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", CHECK_OFF, str(artifacts_dir), redis_url],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "200 []"


WITHOUT_EXTRA = """
import runpy, sys
for package in ("opentelemetry.sdk", "opentelemetry.exporter"):  # as if not installed
    sys.modules[package] = None
runpy.run_module("service", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize(
    "variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
)
def test_an_endpoint_without_the_extra_installed_is_one_line_at_start_up(variable):
    env = os.environ | {variable: "http://127.0.0.1:4318"}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"{variable} is set but the tracing extra is not installed: "
        "pip install 'interaction-candidates[tracing]'"
    ]


def test_an_endpoint_that_is_not_an_http_url_is_one_line_naming_the_variable():
    assert refused_start(OTEL_EXPORTER_OTLP_ENDPOINT="collector:4318") == [
        "invalid setting OTEL_EXPORTER_OTLP_ENDPOINT: Value error, give an http:// or https:// "
        "URL (OTLP/HTTP), e.g. http://collector:4318"
    ]


def test_the_request_span_is_outermost_only_when_an_endpoint_is_set(tmp_path: Path):
    from service import tracing
    from service.app import create_app
    from service.settings import Settings

    def outer(settings: Settings) -> str:
        return create_app(settings).user_middleware[0].cls.__name__

    assert outer(Settings(artifacts_dir=tmp_path)) == "RequestContext"
    traced = Settings(artifacts_dir=tmp_path, otel_exporter_otlp_endpoint="http://127.0.0.1:9")
    assert outer(traced) == tracing.ServerSpan.__name__
    assert traced.otlp_traces_endpoint == "http://127.0.0.1:9/v1/traces"
