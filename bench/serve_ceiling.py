"""The serving benchmark's in-process ceiling: the service's own core without HTTP, in one and
two processes, with and without neighbour tables, and where a request's time goes
(bench/serve_load.py, which runs it after the HTTP steps).

Alone, on a synthetic model and a Redis of its own (no HTTP service), ``--runs`` times::

    python bench/serve_ceiling.py --pairs 50000 --runs 3

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, each request is traced as the service traces it (a
root span, ``history.read``, the module and merge spans; bench/otlp_sink.py receives them).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # demo, when run alone
from contracts.interactions import Interaction
from contracts.redis_keys import history_key
from demo.processes import Children, StopSignal

from serve_world import K, fill_histories, say, start_redis
from synthetic_model import ensure_version


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
    from service import merge
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
    merge.warm()  # as the service does before it serves: no JIT compile inside the loop
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
    from service import tracing
    from service.history import HistoryStore
    from service.settings import Settings

    settings = Settings(redis_url=redis_url)
    tracing.start(settings)  # on with OTEL_EXPORTER_OTLP_ENDPOINT, as in the service
    store = HistoryStore.from_url(redis_url, timeout_seconds=1.0)
    rng = random.Random(seed)
    count, slow, started, cpu = 0, 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        with tracing.span("request"):
            read = time.perf_counter()
            with tracing.span("history.read"):
                history = await store.read(f"u{rng.randrange(users)}", 4, settings.history_length)
            slow += time.perf_counter() - read > settings.redis_timeout_seconds
            core(model, settings, history)
        count += 1
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu  # export thread too
    tracing.stop()
    result = {"rps": count / wall, "cpu_ms_per_request": cpu * 1000 / count}
    result["redis_reads_over_the_service_timeout"] = slow
    if profile:
        result["stages_ms"] = await stages(model, store, settings, users, rng)
    await store.close()
    return result


def core(model: Any, settings: Any, history: Any, timer: Any = None) -> list[Any]:
    """Both modules, by the service's own core (``service.candidates.answer``)."""
    from service import metrics
    from service.candidates import Options, answer

    return answer(model, settings, history, Options(K, K), timer=timer or metrics.ann_timer).modules


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

    from service.candidates import Options, answer
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
        found = answer(model, settings, history, Options(K, K), timer=timer)
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
        rows = model.rows_of(history.views)
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


def main() -> None:
    import json
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=50_000)
    parser.add_argument("--models", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--ceiling-seconds", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    models = args.models / f"model-{args.pairs}"
    version = ensure_version(models, args.pairs)
    children = Children(StopSignal())
    with tempfile.TemporaryDirectory(prefix="serve-ceiling-") as tmp:
        try:
            redis_url = start_redis(children, Path(tmp))
            say(f"histories: {fill_histories(redis_url, models, version, args.users)}")
            for run in range(args.runs):
                found = ceiling(models, version, redis_url, args)
                rows = {name: [r["rps"], r["cpu_ms_per_request"]] for name, r in found.items()}
                print(json.dumps({"run": run, "[rps, cpu ms per request]": rows}), flush=True)
        finally:
            children.stop_all()


if __name__ == "__main__":
    main()
