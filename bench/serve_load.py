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
5. The in-process ceiling (service stopped): ``load_model`` + ``HistoryStore.read`` + the
   service's own core for both modules (``service.candidates.answer``, which the route calls),
   in 1 and 2 processes, with the version's neighbour tables and without them (every seed
   searched live, as before tables); the per-stage cost of one request, answer shaping
   included; per request, the seeds' table rows against the live batched ``knn_query``; and the
   longest GIL hold while loading a version (what stalls a worker during a reload).

Each part is a file beside this one: ``serve_world.py`` (1, 3), ``serve_open_loop.py`` (2, 4),
``serve_wrk.py`` (wrk), ``serve_ceiling.py`` (5); this file runs them in order.

By default the version holds the trainer's neighbour tables (``index.tables``); ``--no-tables``
serves one without them. Loopback only; every child process is stopped on exit, Ctrl-C or
error. Prints a summary and writes ``bench/results/serve_load.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # demo, from the checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))
from contracts import artifacts

from serve_ceiling import ceiling
from serve_open_loop import measure, reload_test, step_load, sustained
from serve_world import Service, describe_model, machine, redis_world, sanity, say, write_results
from serve_wrk import run_wrk
from synthetic_model import ensure_version

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RATES = (50, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000)
GOAL_P99_MS = 10.0


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

    with redis_world(models, version, args.users, "serve-load-") as world:
        children, work, redis_url, results["histories"] = world
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
                results["reload"] = reload_test(service, generator, models, best // 2, args.users)
                results["rss_after_reload"] = service.rss()
            service.stop()
        version = artifacts.read_current(models) or version
        results["ceiling"] = ceiling(models, version, redis_url, args)
    write_results(results, args.out, started)
    summary(results)
    say(f"wrote {args.out} ({results['wall_seconds']}s)")


def summary(results: dict[str, Any]) -> None:
    print(json.dumps({k: v for k, v in results.items() if k != "reload"}, indent=1, default=str))
    reload = results.get("reload")
    if reload:
        print(json.dumps({k: v for k, v in reload.items() if k != "timeline"}, default=str))
        for second in reload["timeline"]:
            print(json.dumps(second))


if __name__ == "__main__":
    main()
