"""Serving benchmark (issue 4): the real service under stepped load, and what the work costs.

    python bench/serve_load.py                                  # 1M pairs, ~15 min + model build
    python bench/serve_load.py --pairs 50000 --step-seconds 5   # quick check
    python bench/serve_load.py --live-indexes none --out bench/results/serve_load-tables-only.json
    python bench/serve_load.py --no-tables --out bench/results/serve_load-live.json

1. A synthetic model of ``--pairs`` (item, interaction) pairs (``bench/synthetic_model.py``,
   cached in ``--models``), a real ``redis-server`` on a free loopback port holding ``--users``
   histories written through ``contracts.redis_keys.history_key`` (6 views from all items,
   0-3 carts from carted items, 0-2 purchases, newest first), and ``python -m service
   --workers 2`` as a subprocess (RELOAD_INTERVAL_SECONDS=1, default INFO logging).
2. An open-loop load generator in a separate process (asyncio on raw HTTP/1.1 keep-alive
   sockets, requests rotated over a pool of ``POOL`` connections: a request is sent at its
   scheduled time whatever the state of earlier ones, and its latency counts from that time,
   so queueing is never hidden) steps the rate through
   ``--rates`` until p99 exceeds ``--stop-p99-ms``, a request fails, or the achieved rate falls
   5% short. Each step reports the achieved rate, p50/p95/p99, errors, the CPU per request of
   the workers and of the generator, and the server-side means of /metrics (request, Redis
   read, each index's batched query). Then ``wrk`` (closed loop, if installed) for peak
   throughput, and fixed steps at 50% and 80% of the max sustained rate.
3. Peak RSS (VmHWM) of each worker after load, after the steps and after a reload.
4. Reload under 50% load: a new version (hard-linked copy of the served one) is published; each
   worker's watcher verifies, loads and warms it; failed requests and the latency per second.
5. The in-process ceiling (service stopped): ``load_model`` + ``HistoryStore.read`` +
   ``retrieval.module`` for both modules exactly as ``service/routes/candidates.py`` calls them,
   in 1 and 2 processes, with the version's neighbour tables and without them (every seed
   searched live, as before tables); the per-stage cost of one request, answer shaping
   included; per request, the seeds' table rows against the live batched ``knn_query``; and the
   longest GIL hold while loading a version (what stalls a worker during a reload).

By default the version holds the trainer's neighbour tables (``index.tables``); ``--no-tables``
serves one without them. Loopback only; every child process is stopped on exit, Ctrl-C or
error. Prints a summary and writes ``bench/results/serve_load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # demo, from the checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_model import derive_version, ensure_version

from contracts import artifacts
from contracts.interactions import Interaction
from contracts.redis_keys import history_key
from demo.processes import Children, StopSignal
from demo.redis import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RATES = (50, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000)
GOAL_P99_MS = 10.0
K = 100
MAX_CONNECTIONS = 512
POOL = 32
"""Connections the generator keeps open and rotates requests over, oldest idle first, as the
homepage backend's many instances would: reusing only the latest idle connection (LIFO) puts a
low-rate load on one or two connections, hence on one worker (docs/benchmarks.md "Serving")."""
IDLE_SECONDS = 3.0
"""Keep-alive connections idle longer are closed, not reused: uvicorn closes them after 5 s."""
CANDIDATES_PATH = "/v1/users/{user_id}/candidates"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--models", type=Path, default=RESULTS, help="model cache folder")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rates", default=",".join(map(str, RATES)))
    parser.add_argument("--step-seconds", type=float, default=15.0)
    parser.add_argument("--stop-p99-ms", type=float, default=50.0, help="capacity budget")
    parser.add_argument("--ceiling-seconds", type=float, default=15.0)
    parser.add_argument("--no-tables", action="store_true", help="serve without neighbour tables")
    parser.add_argument(
        "--live-indexes", default="all", help="the service's LIVE_INDEXES ('all', 'none', names)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "serve_load.json")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    results: dict[str, Any] = {"machine": machine(), "args": vars(args) | {"out": str(args.out)}}
    models = args.models / f"model-{args.pairs}"
    started = time.perf_counter()
    version = ensure_version(models, args.pairs, tables=not args.no_tables)
    results["model"] = describe_model(models, version)
    say(f"model {version}: {results['model']['pairs']:,} pairs, {results['model']['mb']} MB")

    children = Children(StopSignal())
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        try:
            work = Path(tmp)
            redis_url = start_redis(children, work)
            results["histories"] = fill_histories(redis_url, models, version, args.users)
            say(f"histories: {results['histories']}")
            with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as generator:
                service = Service(children, work, models, redis_url, args.live_indexes)
                results["service"] = service.start()
                say(f"service ready: {results['service']}")
                results["sanity"] = sanity(service.port, args.users)
                results["rss_after_load"] = service.rss()
                results["steps"] = step_load(service, generator, args)
                budget = [s for s in results["steps"] if sustained(s, args.stop_p99_ms)]
                goal = [s for s in results["steps"] if sustained(s, GOAL_P99_MS)]
                best = max((s["rate"] for s in budget), default=0)
                results["max_sustained_rps"] = {
                    f"p99<={args.stop_p99_ms:g}ms": best,
                    f"p99<={GOAL_P99_MS:g}ms": max((s["rate"] for s in goal), default=0),
                }
                results["wrk"] = run_wrk(service, args.users, args.step_seconds, work)
                if best:
                    for share in (0.5, 0.8):
                        rate = max(1, round(best * share))
                        results[f"at_{int(share * 100)}pct"] = measure(
                            service, generator, rate, args.step_seconds, args.users
                        )
                    results["rss_after_steps"] = service.rss()
                    results["reload"] = reload_test(
                        service, generator, models, best // 2, args.users
                    )
                    results["rss_after_reload"] = service.rss()
                service.stop()
            version = artifacts.read_current(models) or version
            results["ceiling"] = ceiling(models, version, redis_url, args)
        finally:
            children.stop_all()
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    summary(results)
    say(f"wrote {args.out} ({results['wall_seconds']}s)")


def say(message: str) -> None:
    print(f"[serve_load {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpu = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", cpu)
    return {
        "cores": os.cpu_count(),
        "cpu": model.group(1) if model else "?",
        "python": sys.version.split()[0],
        "load_average_at_start": os.getloadavg(),
    }


def describe_model(models: Path, version: str) -> dict[str, Any]:
    manifest = artifacts.verify_version(artifacts.version_dir(models, version), False)
    return {
        "version": version,
        "pairs": manifest.data.pairs,
        "items": manifest.data.items,
        "pairs_per_interaction": manifest.data.pairs_per_interaction,
        "indexes": {i.name: {"count": i.count, **i.recall} for i in manifest.indexes},
        "mb": round(sum(f.bytes for f in manifest.files.values()) / 1e6),
        "file_mb": {name: round(f.bytes / 1e6) for name, f in manifest.files.items()},
        "build_seconds": manifest.extra.get("synthetic", {}).get("build_seconds"),
        "tables_seconds": manifest.extra.get("synthetic", {}).get("tables_seconds"),
        "neighbor_tables": {
            f"{t.seed}>{t.target}": (t.rows, t.k) for t in manifest.neighbor_tables
        },
    }


def start_redis(children: Children, work: Path) -> str:
    server = EmbeddedRedis(work).start()
    children.adopt("redis-server", server.process, grace_seconds=5)
    return server.url


def fill_histories(redis_url: str, models: Path, version: str, users: int) -> dict[str, Any]:
    """``users`` histories through the key contract, pipelined; what the seeds look like."""
    import redis

    from contracts.catalog import read_catalog

    folder = artifacts.version_dir(models, version)
    catalog = read_catalog(folder / artifacts.ITEMS, folder / artifacts.TOKENS)
    ids = np.array(catalog.item_ids)
    table = catalog.item_token()
    carted = np.flatnonzero(table[:, Interaction.CART] >= 0)
    bought = np.flatnonzero(table[:, Interaction.PURCHASE] >= 0)
    rng = np.random.default_rng(7)
    started = time.perf_counter()
    views = _distinct_rows(rng, np.arange(len(ids)), users, 6)
    lists = {
        Interaction.VIEW: (views, np.full(users, 6)),
        Interaction.CART: (_distinct_rows(rng, carted, users, 3), rng.integers(0, 4, users)),
        Interaction.PURCHASE: (_distinct_rows(rng, bought, users, 2), rng.integers(0, 3, users)),
    }
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    pipe, ttl = client.pipeline(transaction=False), 30 * 86400
    for user in range(users):
        for interaction, (rows, counts) in lists.items():
            if counts[user]:
                key = history_key("ic", f"u{user}", interaction)
                pipe.rpush(key, *ids[rows[user, : counts[user]]].tolist())
                pipe.expire(key, ttl)
        if user % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    found = {i.label: int(counts.sum()) for i, (_, counts) in lists.items()}
    found["view seeds without a view pair"] = int((table[views[:, :4], 0] < 0).sum())
    found["users without carts"] = int((lists[Interaction.CART][1] == 0).sum())
    return {"users": users, "seconds": round(time.perf_counter() - started, 1), **found}


def _distinct_rows(rng: np.random.Generator, among: np.ndarray, n: int, width: int) -> np.ndarray:
    """``n`` rows of ``width`` distinct values drawn uniformly from ``among``."""
    rows = among[rng.integers(0, len(among), (n, width))]
    for r in np.flatnonzero([len(set(row)) < width for row in rows.tolist()]):
        rows[r] = rng.choice(among, width, replace=False)
    return rows


class Service:
    """``python -m service --workers 2`` on a free port, its log, its workers' /proc."""

    def __init__(
        self, children: Children, work: Path, models: Path, redis_url: str, live_indexes: str
    ) -> None:
        self.children, self.work, self.port = children, work, free_port()
        self.log = work / "service.log"
        self.env = os.environ | {
            "ARTIFACTS_DIR": str(models),
            "REDIS_URL": redis_url,
            "RELOAD_INTERVAL_SECONDS": "1",
            "LIVE_INDEXES": live_indexes,
            "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics"),
            "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent), str(ROOT)]),
        }
        (work / "metrics").mkdir()
        self._read_to, self._loads = 0, []

    def start(self, timeout: float = 600) -> dict[str, Any]:
        cmd = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(self.port)]
        started = time.perf_counter()
        self.child = self.children.start(
            "service", [*cmd, "--workers", "2"], env=self.env, log=self.log, grace_seconds=15
        )
        self.proc = self.child.process
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited; see {self.log}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2):
                    pass
                if len(self.loads()) >= 2:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"the service was not ready in {timeout}s:\n{self.tail()}")
        return {
            "seconds_to_ready": round(time.perf_counter() - started, 1),
            "model_load_seconds": [round(x["seconds"], 2) for x in self.loads()],
            "workers": self.workers(),
        }

    def stop(self) -> None:
        self.child.stop()

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])

    def loads(self) -> list[dict[str, Any]]:
        """The service's "serving model version" log records, oldest first.

        The log is read from where the previous call stopped: it grows by an access line per
        request, and re-reading it all while polling would steal CPU from the service.
        """
        with open(self.log, "rb") as f:
            f.seek(self._read_to)
            text = f.read()
        complete = text[: text.rfind(b"\n") + 1]
        self._read_to += len(complete)
        for line in complete.decode(errors="replace").splitlines():
            if '"serving model version"' in line:
                self._loads.append(json.loads(line))
        return list(self._loads)

    def supervisor_events(self) -> list[str]:
        """What uvicorn's supervisor logged about workers (hung, killed, died, restarted)."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if re.search(r"(?i)child process|died|killed|hung|terminat", line):
                found.append(line[:300])
        return found

    def workers(self) -> list[int]:
        """The uvicorn worker pids: children of the master that are not helper processes."""
        pids = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                text = status.read_text()
                cmdline = (status.parent / "cmdline").read_bytes()
            except OSError:
                continue
            ppid = re.search(r"PPid:\s*(\d+)", text)
            if ppid and int(ppid.group(1)) == self.proc.pid and b"resource_tracker" not in cmdline:
                pids.append(int(status.parent.name))
        return sorted(pids)

    def rss(self) -> dict[str, dict[str, int]]:
        """VmHWM (peak), VmRSS, RssAnon (private), RssFile (mapped files, shared with the other
        worker and the page cache) and Pss (shared pages split between their users) of every
        worker, in MB."""
        found = {}
        for pid in self.workers():
            text = Path(f"/proc/{pid}/status").read_text()
            fields = dict(re.findall(r"(VmHWM|VmRSS|RssAnon|RssFile):\s*(\d+) kB", text))
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            fields |= dict(re.findall(r"^(Pss):\s*(\d+) kB", rollup, re.M))
            found[str(pid)] = {k: int(v) // 1024 for k, v in fields.items()}
        return found

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of all workers so far."""
        return sum(self.cpu_by_worker().values())

    def cpu_by_worker(self) -> dict[int, float]:
        """User + system CPU seconds of each worker so far."""
        tick = os.sysconf("SC_CLK_TCK")
        found = {}
        for pid in self.workers():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            found[pid] = (int(fields[11]) + int(fields[12])) / tick
        return found

    def metrics(self) -> dict[str, float]:
        """Sums and counts of the latency histograms the service exports."""
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode()
        found: dict[str, float] = Counter()
        pattern = r"^(ic_\w+_duration_seconds)_(sum|count)\{(.*)\} (\S+)$"
        for name, kind, labels, value in re.findall(pattern, text, re.M):
            if "request" in name and "candidates" not in labels:
                continue
            key = re.search(r'(?:index|operation)="(\w+)"', labels)
            short = name.split("_")[1] + (f":{key.group(1)}" if key else "")
            found[f"{short}:{kind}"] += float(value)
        return found


def sanity(port: int, users: int) -> dict[str, Any]:
    """A few real responses: module sizes, fallbacks, degraded answers."""
    seen = Counter[str]()
    for user in random.Random(3).sample(range(users), 20):
        url = f"http://127.0.0.1:{port}/v1/users/u{user}/candidates?k={K}"
        with urllib.request.urlopen(url, timeout=10) as reply:
            body = json.loads(reply.read())
            seen["bytes"] += len(json.dumps(body))
        seen["fallback"] += body["fallback"] is not None
        seen["degraded"] += body["degraded"]
        for module in body["modules"]:
            seen[f"{module['name']} candidates"] += len(module["candidates"])
    return {k: round(v / 20, 1) for k, v in seen.items()}


def sustained(step: dict[str, Any], p99_ms: float) -> bool:
    return step["errors"] == 0 and step["p99_ms"] <= p99_ms and step["shortfall"] <= 0.05


def measure(
    service: Service, generator: ProcessPoolExecutor, rate: int, seconds: float, users: int
) -> dict[str, Any]:
    """One open-loop step at ``rate``, with the workers' CPU and the server-side metrics."""
    before, cpu = service.metrics(), service.cpu_by_worker()
    step = generator.submit(load_step, service.port, rate, seconds, users, rate).result()
    used = {pid: t - cpu.get(pid, 0.0) for pid, t in service.cpu_by_worker().items()}
    after, done = service.metrics(), max(step["ok"], 1)
    step["server_cpu_ms_per_request"] = round(sum(used.values()) * 1000 / done, 2)
    step["worker_cpu_share"] = [round(t / seconds, 2) for t in used.values()]
    step["server_means_ms"] = {
        key[: -len(":sum")]: round(
            (after[key] - before.get(key, 0))
            * 1000
            / max(after[key[:-3] + "count"] - before.get(key[:-3] + "count", 0), 1),
            3,
        )
        for key in after
        if key.endswith(":sum")
    }
    say(
        f"{rate:>5} rps → {step['achieved_rps']:>7} achieved, p50 {step['p50_ms']} p95 "
        f"{step['p95_ms']} p99 {step['p99_ms']} ms, errors {step['errors']}, server CPU "
        f"{step['server_cpu_ms_per_request']} ms/req, {step['server_means_ms']}"
    )
    return step


def step_load(
    service: Service, generator: ProcessPoolExecutor, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Warm up, then step through the rates until the capacity budget breaks."""
    generator.submit(load_step, service.port, 50, 3, args.users, 0).result()
    steps = []
    for rate in (int(r) for r in args.rates.split(",")):
        steps.append(measure(service, generator, rate, args.step_seconds, args.users))
        if not sustained(steps[-1], args.stop_p99_ms):
            break
    return steps


def load_step(
    port: int, rate: float, seconds: float, users: int, seed: int, timeout: float = 2.0
) -> dict[str, Any]:
    """Run one open-loop step in this (generator) process; latency and error statistics."""
    cpu = time.process_time()
    records = asyncio.run(_open_loop(port, rate, seconds, users, seed, timeout))
    cpu = time.process_time() - cpu
    return summarise(records, rate, seconds) | {
        "generator_cpu_share": round(cpu / seconds, 3),
    }


async def _open_loop(
    port: int, rate: float, seconds: float, users: int, seed: int, timeout: float
) -> list[tuple[float, float, str]]:
    """(send offset s, latency ms or -1, model version or error) per scheduled request."""
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
    records: list[tuple[float, float, str]] = []
    tasks: set[asyncio.Task[None]] = set()
    opened = 0

    async def one(due: float) -> None:
        nonlocal opened
        path = f"/v1/users/u{rng.randrange(users)}/candidates?k={K}"
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        conn = None
        try:
            async with asyncio.timeout_at(due + timeout):
                while idle and idle[0][2] < loop.time() - IDLE_SECONDS:
                    idle.pop(0)[1].close()
                    opened -= 1
                if idle and opened >= POOL:
                    conn = idle.pop(0)[:2]  # the longest idle: requests rotate over the pool
                elif opened >= MAX_CONNECTIONS:
                    raise ConnectionRefusedError("generator connection cap")
                else:
                    opened += 1
                    conn = await asyncio.open_connection("127.0.0.1", port)
                reader, writer = conn
                writer.write(request)
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                length = re.search(r"(?i)content-length:\s*(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
            status = head.split(" ", 2)[1]
            version = re.search(r"(?i)x-model-version:\s*(\S+)", head)
            if status != "200":
                records.append((due - start, -1.0, f"http {status}"))
            else:
                records.append(
                    (due - start, (loop.time() - due) * 1000, version[1] if version else "")
                )
            idle.append((*conn, loop.time()))
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            records.append((due - start, -1.0, type(exc).__name__))
            if conn is not None:
                conn[1].close()
                opened -= 1

    start = loop.time() + 0.05
    total = int(rate * seconds)
    sent = 0
    while sent < total:
        due_now = min(total, math.floor((loop.time() - start) * rate) + 1)
        while sent < due_now:
            task = asyncio.create_task(one(start + sent / rate))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.sleep(max(0.0, start + sent / rate - loop.time()))
    if tasks:
        await asyncio.wait(tasks, timeout=timeout + 1)
    for _, writer, _ in idle:
        writer.close()
    return records


def summarise(records: list[tuple[float, float, str]], rate: float, seconds: float) -> dict:
    ok = np.array([r[1] for r in records if r[1] >= 0])
    errors = Counter(r[2] for r in records if r[1] < 0)
    sent_window = max((r[0] for r in records), default=0)
    last = max((r[0] + r[1] / 1000 for r in records if r[1] >= 0), default=seconds)
    achieved = len(ok) / max(last, sent_window, 1e-9)
    pct = np.percentile(ok, [50, 95, 99, 100]) if len(ok) else [float("nan")] * 4
    return {
        "rate": rate,
        "sent": len(records),
        "ok": len(ok),
        "achieved_rps": round(achieved, 1),
        "shortfall": round(1 - achieved / rate, 3),
        "p50_ms": round(float(pct[0]), 2),
        "p95_ms": round(float(pct[1]), 2),
        "p99_ms": round(float(pct[2]), 2),
        "max_ms": round(float(pct[3]), 2),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
    }


def reload_load(port: int, rate: float, seconds: float, users: int) -> dict[str, Any]:
    """An open-loop run whose records are also summarised per second (the reload timeline)."""
    records = asyncio.run(_open_loop(port, rate, seconds, users, 99, 10.0))
    timeline = []
    for second in range(int(seconds)):
        part = [r for r in records if second <= r[0] < second + 1]
        lat = np.array([r[1] for r in part if r[1] >= 0])
        timeline.append(
            {
                "s": second,
                "ok": len(lat),
                "errors": sum(r[1] < 0 for r in part),
                "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
                "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
                "max_ms": round(float(lat.max()), 1) if len(lat) else None,
                "versions": dict(Counter(r[2][-6:] for r in part if r[1] >= 0)),
            }
        )
    return summarise(records, rate, seconds) | {"timeline": timeline}


def reload_test(
    service: Service, generator: ProcessPoolExecutor, models: Path, rate: int, users: int
) -> dict[str, Any]:
    """Publish a new version under ``rate`` RPS; every worker reloads; count failed requests.

    Times are seconds since the load started: when publishing began, when CURRENT moved (the
    publish hashes every file first), when each worker logged that it serves the new version.
    """
    seconds, loads_before, workers = 75.0, len(service.loads()), service.workers()
    started = time.perf_counter()
    future = generator.submit(reload_load, service.port, rate, seconds, users)
    time.sleep(5)
    publishing = time.perf_counter() - started
    new = derive_version(models, artifacts.read_current(models) or "")
    moved = time.perf_counter() - started
    say(f"published {new} under {rate} rps")
    served_at = []
    while not future.done():
        loaded = [x for x in service.loads()[loads_before:] if x.get("version") == new]
        served_at += [round(time.perf_counter() - started, 1)] * (len(loaded) - len(served_at))
        time.sleep(0.2)
    result = future.result()
    loads = [x for x in service.loads()[loads_before:] if x.get("version") == new]
    result |= {
        "new_version": new,
        "publish_started_s": round(publishing, 1),
        "current_moved_s": round(moved, 1),
        "workers_serving_new_s": served_at,
        "worker_load_seconds": [round(x["seconds"], 2) for x in loads],
        "supervisor_events": service.supervisor_events(),
        "workers_before": workers,
        "workers_after": service.workers(),
    }
    say(
        f"reload: {result['errors']} failed of {result['sent']} {result['error_kinds']}, p99 "
        f"{result['p99_ms']} max {result['max_ms']} ms, CURRENT moved at {moved:.1f}s, "
        f"workers serving it at {served_at}s, loads {result['worker_load_seconds']}s"
    )
    return result


def run_wrk(service: Service, users: int, seconds: float, work: Path) -> list[dict[str, Any]]:
    """Closed-loop peak throughput with wrk (1 thread), if installed; /healthz for the floor.

    /healthz runs no model, no Redis and no response model: its CPU per request is what the
    HTTP server, the middleware, the access log and the metrics cost every request.
    """
    if shutil.which("wrk") is None:
        return []
    script = work / "users.lua"
    script.write_text(
        f"math.randomseed(os.time())\nrequest = function()\n  return wrk.format(nil, "
        f'"/v1/users/u" .. math.random(0, {users - 1}) .. "/candidates?k={K}")\nend\n'
    )
    url = f"http://127.0.0.1:{service.port}"
    found = []
    for path, connections in (("candidates", 2), ("candidates", 8), ("healthz", 8)):
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency"]
        target = ["-s", str(script), url] if path == "candidates" else [f"{url}/healthz"]
        cpu = service.cpu_seconds()
        out = subprocess.run(
            [*cmd, *target], capture_output=True, text=True, timeout=seconds + 30
        ).stdout
        cpu = service.cpu_seconds() - cpu
        row: dict[str, Any] = {"path": path, "connections": connections}
        rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
        row["rps"] = float(rps.group(1)) if rps else None
        for pct, value, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
            row[f"p{pct}_ms"] = float(value) * {"us": 1e-3, "ms": 1, "s": 1e3}[unit]
        bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
        sock = re.search(r"Socket errors:(.*)", out)
        row["errors"] = (int(bad.group(1)) if bad else 0) + sum(
            int(n) for n in re.findall(r"\d+", sock.group(1) if sock else "")
        )
        if row["rps"]:
            row["server_cpu_ms_per_request"] = round(cpu * 1000 / (row["rps"] * seconds), 3)
        say(f"wrk {path} -c{connections}: {row}")
        found.append(row)
    return found


def ceiling(models: Path, version: str, redis_url: str, args: argparse.Namespace) -> dict:
    """Requests/s of the core work without HTTP, 1 and 2 processes, with and without tables."""
    found = {}
    ctx = mp.get_context("spawn")
    for tables, processes in ((True, 1), (True, 2), (False, 1), (False, 2)):
        barrier, queue = ctx.Barrier(processes), ctx.Queue()
        job = (models, version, redis_url, args.users, args.ceiling_seconds, barrier, queue)
        procs = [
            ctx.Process(target=ceiling_worker, args=(*job, n, processes == 1, tables), daemon=True)
            for n in range(processes)
        ]
        for proc in procs:
            proc.start()
        try:
            runs = collect(queue, procs)
        finally:
            for proc in procs:
                proc.join(30)
                if proc.is_alive():
                    proc.kill()
        row: dict[str, Any] = {
            "rps": round(sum(r["rps"] for r in runs), 1),
            "cpu_ms_per_request": round(float(np.mean([r["cpu_ms_per_request"] for r in runs])), 2),
            "load_seconds": [r["load_seconds"] for r in runs],
            "longest_gil_hold_while_loading_s": [
                r["longest_gil_hold_while_loading_s"] for r in runs
            ],
            "peak_rss_mb": [r["peak_rss_mb"] for r in runs],
            "redis_reads_over_the_service_timeout": sum(
                r["redis_reads_over_the_service_timeout"] for r in runs
            ),
        }
        row |= {k: v for r in runs for k, v in r.items() if k in ("stages_ms", "table_vs_live")}
        name = f"{'tables' if tables else 'live'}_{processes}_process"
        found[name] = row
        say(f"ceiling {name}: {row}")
    return found


def collect(queue: Any, procs: list[Any], timeout: float = 900) -> list[dict[str, Any]]:
    """One result per process; RuntimeError as soon as one dies without a result."""
    import queue as queues

    runs: list[dict[str, Any]] = []
    deadline = time.perf_counter() + timeout
    while len(runs) < len(procs) and time.perf_counter() < deadline:
        try:
            runs.append(queue.get(timeout=2))
        except queues.Empty:
            if sum(not p.is_alive() and p.exitcode != 0 for p in procs):
                raise RuntimeError("a ceiling process failed; see its traceback above") from None
    if len(runs) < len(procs):
        raise RuntimeError(f"the ceiling processes gave no result within {timeout}s")
    return runs


def ceiling_worker(
    models: Path,
    version: str,
    redis_url: str,
    users: int,
    seconds: float,
    barrier: Any,
    queue: Any,
    seed: int,
    profile: bool,
    tables: bool,
) -> None:
    """Load the model, wait for the others, run the core loop; put the result on ``queue``.

    Without ``tables`` the model's neighbour tables are dropped, so every seed is searched in
    the live index as before they existed. A ticker thread measures the longest time the
    loading thread kept the GIL (what stalls a worker's event loop during a reload).
    """
    from service.model import load_model

    stalls: list[float] = []
    loaded = threading.Event()

    def tick() -> None:
        last = time.perf_counter()
        while not loaded.is_set():
            time.sleep(0.005)
            now = time.perf_counter()
            stalls.append(now - last)
            last = now

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    model = load_model(models, version)
    loaded.set()
    ticker.join()
    served = model if tables else replace(model, tables={})
    barrier.wait(timeout=900)
    result = asyncio.run(_ceiling_loop(served, redis_url, users, seconds, seed, profile))
    if profile and tables and model.tables:
        result["table_vs_live"] = table_vs_live(model, redis_url, users)
    queue.put(
        result
        | {
            "load_seconds": round(model.load_seconds, 2),
            "longest_gil_hold_while_loading_s": round(max(stalls, default=0.0), 2),
            "peak_rss_mb": peak_rss(),
        }
    )


def peak_rss() -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s*(\d+)", text).group(1)) // 1024  # type: ignore[union-attr]


async def _ceiling_loop(
    model: Any, redis_url: str, users: int, seconds: float, seed: int, profile: bool
) -> dict[str, Any]:
    from service.history import HistoryStore
    from service.settings import Settings

    settings = Settings(redis_url=redis_url)
    store = HistoryStore.from_url(redis_url, timeout_seconds=1.0)
    rng = random.Random(seed)
    count, slow, started, cpu = 0, 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        read = time.perf_counter()
        history = await store.read(f"u{rng.randrange(users)}", 4, settings.history_length)
        slow += time.perf_counter() - read > settings.redis_timeout_seconds
        core(model, settings, history)
        count += 1
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    result = {"rps": count / wall, "cpu_ms_per_request": cpu * 1000 / count}
    result["redis_reads_over_the_service_timeout"] = slow
    if profile:
        result["stages_ms"] = await stages(model, store, settings, users, rng)
    await store.close()
    return result


def core(model: Any, settings: Any, history: Any, timer: Any = None) -> list[Any]:
    """Both modules, by the service's own core (``service.candidates.answer``)."""
    from service import metrics
    from service.candidates import answer

    return answer(model, settings, history, K, timer=timer or metrics.ann_timer).modules


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "mean": round(float(np.mean(values)), 3),
        "p50": round(float(np.percentile(values, 50)), 3),
        "p99": round(float(np.percentile(values, 99)), 3),
    }


async def stages(
    model: Any, store: Any, settings: Any, users: int, rng: random.Random, n: int = 1000
) -> dict[str, dict[str, float]]:
    """Where the time of one request goes: Redis, each table read or query, merge, JSON.

    The answer is shaped as the route shapes it (its module dicts, then the route's
    ``_answer``, whose response rendering is the JSON encoding).
    """
    from contextlib import contextmanager

    from service.candidates import answer
    from service.fastjson import FastJSONResponse
    from service.routes.candidates import body

    times: dict[str, list[float]] = {}
    lookups: Counter[str] = Counter()

    @contextmanager
    def timer(name: str) -> Any:
        t0 = time.perf_counter()
        yield
        lookups[name] += time.perf_counter() - t0

    def add(stage: str, seconds: float) -> None:
        times.setdefault(stage, []).append(seconds * 1000)

    names = ["table:view>view", "table:cart>cart", "table:item>item", "view", "cart", "item"]
    for _ in range(n):
        t0 = time.perf_counter()
        history = await store.read(f"u{rng.randrange(users)}", 4, settings.history_length)
        t1 = time.perf_counter()
        lookups.clear()
        found = answer(model, settings, history, K, timer=timer)
        t2 = time.perf_counter()
        shaped = body("u", found)
        t3 = time.perf_counter()
        FastJSONResponse(shaped)
        t4 = time.perf_counter()
        add("redis read", t1 - t0)
        for name in names:
            label = name if name.startswith("table") else f"knn_query {name} (seeds batched)"
            add(label, lookups[name])
        add("rank + fair merge (both modules)", (t2 - t1) - sum(lookups.values()))
        add("module dicts (the route's body)", t3 - t2)
        add("answer rendering (JSON)", t4 - t3)
        add("total", t4 - t0)
    return {stage: _stats(v) for stage, v in times.items() if any(v)}


def table_vs_live(model: Any, redis_url: str, users: int, n: int = 1000) -> dict[str, Any]:
    """Per request: seed rows from the table against the live query; both modules both ways."""
    import redis

    from service.history import UserHistory
    from service.settings import Settings

    settings = Settings(redis_url=redis_url)
    live_model = replace(model, tables={})
    client = redis.Redis.from_url(redis_url)
    rng = random.Random(11)
    costs: dict[str, list[float]] = {}
    overlap = []
    for _ in range(n):
        user = f"u{rng.randrange(users)}"
        lists = [
            [x.decode() for x in client.lrange(history_key("ic", user, i), 0, m - 1)]
            for i, m in ((Interaction.VIEW, 4), (Interaction.CART, 4), (Interaction.PURCHASE, 50))
        ]
        history = UserHistory(lists[0], [], lists[1], lists[2])
        rows = np.array([model.item_row[s] for s in history.views], dtype=np.int64)
        tokens = model.item_token[rows, int(Interaction.VIEW)]
        tokens = tokens[tokens >= 0]
        if len(tokens):
            depth = K + len(history.views) + len(history.carts) + len(history.purchases)
            queries = np.asarray(model.pair_vectors[tokens])
            t0 = time.perf_counter()
            model.tables[("view", "view")].lookup(tokens)
            t1 = time.perf_counter()
            model.indexes["view"].query(queries, depth)
            t2 = time.perf_counter()
            for q in queries:
                model.indexes["view"].query(q[None, :], depth)
            t3 = time.perf_counter()
            costs.setdefault("view seeds: table rows (memmap)", []).append((t1 - t0) * 1000)
            costs.setdefault("view seeds: one batched knn_query", []).append((t2 - t1) * 1000)
            costs.setdefault("view seeds: one knn_query per seed", []).append((t3 - t2) * 1000)
        t0 = time.perf_counter()
        with_tables = core(model, settings, history)
        t1 = time.perf_counter()
        live = core(live_model, settings, history)
        t2 = time.perf_counter()
        costs.setdefault("both modules, tables", []).append((t1 - t0) * 1000)
        costs.setdefault("both modules, live queries", []).append((t2 - t1) * 1000)
        for a, b in zip(live, with_tables, strict=True):
            if a.candidates:
                same = {c.item_id for c in a.candidates} & {c.item_id for c in b.candidates}
                overlap.append(len(same) / len(a.candidates))
    return {stage: _stats(v) for stage, v in costs.items()} | {
        "candidate_overlap_tables_vs_live": round(float(np.mean(overlap)), 4),
        "requests": n,
    }


def summary(results: dict[str, Any]) -> None:
    print(json.dumps({k: v for k, v in results.items() if k != "reload"}, indent=1, default=str))
    reload = results.get("reload")
    if reload:
        print(json.dumps({k: v for k, v in reload.items() if k != "timeline"}, default=str))
        for second in reload["timeline"]:
            print(json.dumps(second))


if __name__ == "__main__":
    main()
