"""What tracing costs a candidates request over HTTP (docs/benchmarks.md "Tracing").

    python bench/serve_tracing.py --pairs 50000 --rounds 3

``python -m service`` with one worker, started afresh for each of three settings in turn, in
``--rounds`` interleaved rounds: tracing off; on, every request exported to a local receiver
(bench/otlp_sink.py, a process of its own); on but unsampled (``OTEL_TRACES_SAMPLER=
always_off``). One client sends ``--requests`` sequential ``GET /v1/users/u{random}/
candidates?k=100`` on one keep-alive connection, each with a sampled W3C ``traceparent`` (what
a traced caller sends), after 300 to warm up; the worker's CPU per request is read from
``/proc`` (its export thread included). The access log is on, as shipped. A synthetic model of
``--pairs`` pairs and a redis-server of its own with ``--users`` histories, as serve_load.py's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # demo, from the checkout
from contracts import artifacts
from demo.processes import Children, StopSignal
from demo.redis import free_port

from serve_world import fill_histories, say, start_redis
from synthetic_model import ensure_version

HERE = Path(__file__).resolve().parent
SETTINGS = {
    "off": {},
    "on": {"OTEL_EXPORTER_OTLP_ENDPOINT": "SINK"},
    "on, unsampled": {"OTEL_EXPORTER_OTLP_ENDPOINT": "SINK", "OTEL_TRACES_SAMPLER": "always_off"},
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    children: Children, env: dict[str, str], work: Path, users: int, requests: int
) -> dict[str, float]:
    """One fresh service, warmed up, then ``requests`` timed: CPU and wall ms per request."""
    port = free_port()
    cmd = [sys.executable, "-m", "service", "--port", str(port), "--workers", "1"]
    child = children.start("service", cmd, env=env, log=work / f"service-{port}.log")
    try:
        deadline = time.monotonic() + 300
        while not _ready(port):
            if child.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not start; see {work}/service-{port}.log")
            time.sleep(0.2)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        rng = random.Random(5)

        def one() -> None:
            trace = f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}-01"
            path = f"/v1/users/u{rng.randrange(users)}/candidates?k=100"
            conn.request("GET", path, headers={"traceparent": trace})
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status

        for _ in range(300):
            one()
        cpu, wall = cpu_seconds(child.process.pid), time.perf_counter()
        for _ in range(requests):
            one()
        cpu, wall = cpu_seconds(child.process.pid) - cpu, time.perf_counter() - wall
        conn.close()
        return {"cpu_ms": cpu * 1000 / requests, "wall_ms": wall * 1000 / requests}
    finally:
        child.stop()
        children.started.remove(child)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=50_000)
    parser.add_argument("--models", type=Path, default=HERE / "results")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    models = args.models / f"model-{args.pairs}"
    ensure_version(models, args.pairs)
    version = artifacts.read_current(models)
    assert version is not None
    children = Children(StopSignal())
    found: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory(prefix="serve-tracing-") as tmp:
        work = Path(tmp)
        try:
            redis_url = start_redis(children, work)
            say(f"histories: {fill_histories(redis_url, models, version, args.users)}")
            sink_port = free_port()
            sink = [sys.executable, str(HERE / "otlp_sink.py"), "--port", str(sink_port)]
            children.start("otlp-sink", sink, log=work / "sink.log")
            base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | {
                "ARTIFACTS_DIR": str(models),
                "REDIS_URL": redis_url,
                "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)]),
            }
            for round_ in range(args.rounds):
                for name, extra in SETTINGS.items():
                    sink_url = f"http://127.0.0.1:{sink_port}"
                    env = base | {k: v.replace("SINK", sink_url) for k, v in extra.items()}
                    result = measure(children, env, work, args.users, args.requests)
                    found[name].append(result)
                    say(f"round {round_} tracing {name}: {json.dumps(result)}")
        finally:
            children.stop_all()
    print(json.dumps({name: _medians(runs) for name, runs in found.items()}, indent=1))


def _medians(runs: list[dict[str, float]]) -> dict[str, Any]:
    return {
        key: round(statistics.median(r[key] for r in runs), 3) for key in ("cpu_ms", "wall_ms")
    } | {"cpu_ms_runs": [round(r["cpu_ms"], 3) for r in runs]}


if __name__ == "__main__":
    main()
