"""A local OTLP/HTTP trace receiver for measuring tracing's cost: the collector's part, minus
the collector (docs/benchmarks.md "Tracing").

    python bench/otlp_sink.py --port 4318 &
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python bench/serve_ceiling.py --runs 3

Accepts ``POST /v1/traces`` (protobuf), decodes each body as the collector would, answers 200,
and prints the spans received (by name) every ``--every`` seconds and when stopped, so a run
shows that nothing was dropped. Its own CPU is its own process's: the service's or the
ceiling's figures count only what exporting costs them.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

received: Counter[str] = Counter()
lock = threading.Lock()


class Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        request = ExportTraceServiceRequest.FromString(body)
        names = [
            span.name
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]
        with lock:
            received.update(names)
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # one line per batch: too many
        pass


def report() -> None:
    with lock:
        print(json.dumps({"spans": sum(received.values()), **received}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=4318)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between reports")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Sink)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()
    try:
        while not stop.wait(args.every):
            report()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        report()


if __name__ == "__main__":
    main()
