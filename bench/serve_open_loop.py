"""The serving benchmark's open-loop load: stepped rates, fixed rates, and a reload under load
(bench/serve_load.py)."""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import re
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from contracts import artifacts

from serve_world import K, Service, say
from synthetic_model import derive_version

MAX_CONNECTIONS = 512
POOL = 32
"""Connections the generator keeps open and rotates requests over, oldest idle first, as the
homepage backend's many instances would: reusing only the latest idle connection (LIFO) puts a
low-rate load on one or two connections, hence on one worker (docs/benchmarks.md "Serving")."""
IDLE_SECONDS = 3.0
"""Keep-alive connections idle longer are closed, not reused: uvicorn closes them after 5 s."""


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
