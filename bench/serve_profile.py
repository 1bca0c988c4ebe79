"""Where a candidates request's worker CPU goes: one worker under wrk, sampled by py-spy.

``python -m service --workers 1`` serves a synthetic model from a Redis of its own (the world of
bench/serve_world.py); wrk asks for random users' candidates, closed loop; py-spy samples the
worker (Python frames, idle time left out) while the worker's CPU is read from /proc. Each
sample is charged to the component of its innermost frame that names one (``COMPONENTS``:
a ``contextlib`` frame inside ``metrics.timed`` counts as metrics), and the worker's CPU per
request is split in the samples' proportions::

    pip install -e '.[bench]'    # py-spy, the sampling profiler
    python bench/serve_profile.py --pairs 50000 --rounds 3

``--before DIR`` starts a second service from another checkout (e.g. a copy of the previous
commit, run with that folder first on its path) and alternates the rounds between the two
(A B, B A, …), so a busy minute hits both: the ratio of their CPU per request is the A/B.
Without py-spy the breakdown is skipped and the CPU per request (and its A/B) is still
measured. The results go to ``--out``, each round's raw py-spy stacks beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # demo, when run alone
from serve_world import ROOT, Service, redis_world, say
from serve_wrk import users_script, wrk
from synthetic_model import ensure_version

RESULTS = ROOT / "bench" / "results"
PY_SPY = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))

# (component, pattern of a frame's "function (file:line)"), tried in order on each frame from
# the innermost out; the first frame that matches names the sample's component.
COMPONENTS = (
    ("metrics (prometheus_client)", r"prometheus_client/|service/metrics\.py"),
    ("access log + request id", r"/logging/|contracts/json_logs\.py|service/logs\.py|/uuid\.py"),
    ("tracing (off)", r"service/tracing\.py"),
    ("JSON encoding", r"service/fastjson\.py|orjson"),
    ("Redis client", r"redis/|hiredis|service/history\.py|service/hidden\.py"),
    (
        "our core (retrieval, merge, popular)",
        r"service/(candidates|retrieval|merge|popular|model|reasons|registry|canary)\.py"
        r"|numpy/|numba/|hnswlib",
    ),
    ("route: parse + shape", r"service/(routes/|deps\.py|errors\.py|quick_route\.py)"),
    ("pydantic", r"pydantic"),
    ("FastAPI routing + dependencies", r"fastapi/"),
    ("Starlette (app, routing, response)", r"starlette/|service/(auth|limits)\.py"),
    ("HTTP server (uvicorn + httptools)", r"uvicorn/|httptools|service/protocol\.py"),
    ("event loop (asyncio/uvloop, syscalls)", r"asyncio/|uvloop"),
)


def component(stack: str) -> str:
    """The component of one collapsed py-spy stack (outermost frame first)."""
    for frame in reversed(stack.split(";")):
        for name, pattern in COMPONENTS:
            if re.search(pattern, frame):
                return name
    return "other"


def breakdown(raw: Path, cpu_ms_per_request: float) -> dict[str, float]:
    """µs of worker CPU per request by component, from py-spy's ``--format raw`` output."""
    samples: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples[component(stack)] += int(count)
    total = sum(samples.values()) or 1
    shares = {name: n / total for name, n in samples.most_common()}
    found = {name: round(share * cpu_ms_per_request * 1000, 1) for name, share in shares.items()}
    return found | {"samples": total}


def profiled(service: Service, args: argparse.Namespace, script: Path) -> dict:
    """One wrk run with py-spy sampling the worker for its duration."""
    raw = args.out.with_name(f"{args.out.stem}-{service.name}-{time.monotonic_ns()}.txt")
    cmd = [PY_SPY, "record", "--format", "raw", "--nonblocking", "-r", str(args.rate)]
    sampler = subprocess.Popen(
        [*cmd, "-d", str(int(args.seconds)), "-o", str(raw), "--pid", str(service.workers()[0])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    row = wrk(service, "candidates", args.connections, 1, args.seconds, script)
    sampler.wait(timeout=60)
    row["us_per_request"] = breakdown(raw, row["server_cpu_ms_per_request"])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=50_000)
    parser.add_argument("--models", type=Path, default=RESULTS, help="model cache folder")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=15.0, help="per wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per service")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--before", type=Path, help="a checkout to compare with (A/B)")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for both")
    parser.add_argument("--out", type=Path, default=RESULTS / "serve_profile.json")
    args = parser.parse_args()
    models = args.models / f"model-{args.pairs}"
    version = ensure_version(models, args.pairs)
    env = dict(kv.split("=", 1) for kv in args.env)
    sampling = PY_SPY is not None
    if not sampling:
        say("py-spy is not installed: CPU per request only, no breakdown")
    results: dict[str, Any] = {"args": vars(args), "version": version}
    with redis_world(models, version, args.users, "serve-profile-") as world:
        children, work, redis_url, results["histories"] = world
        variants = {"after": env}
        if args.before is not None:
            # the other checkout first on the path, and not the current folder (python -P)
            path = os.pathsep.join([str(args.before), str(Path(__file__).resolve().parent)])
            variants = {"before": env | {"PYTHONPATH": path, "PYTHONSAFEPATH": "1"}, **variants}
        services = {
            name: Service(children, work, models, redis_url, "all", 1, variant, name)
            for name, variant in variants.items()
        }
        for service in services.values():
            service.start()
        script = users_script(args.users, work)
        for service in services.values():  # warm-up: JIT, pools, caches
            wrk(service, "candidates", args.connections, 1, 3, script)
        for n in range(args.rounds):
            order = list(services.items())
            for name, service in order[:: 1 if n % 2 == 0 else -1]:  # A B, B A, …
                row = (
                    profiled(service, args, script)
                    if sampling
                    else wrk(service, "candidates", args.connections, 1, args.seconds, script)
                )
                results.setdefault(name, []).append(row)
                say(f"round {n} {name}: {json.dumps(row)}")
    summary = {
        name: sorted(r["server_cpu_ms_per_request"] for r in rows)
        for name, rows in results.items()
        if name in variants
    }
    results["cpu_ms_per_request"] = summary
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
