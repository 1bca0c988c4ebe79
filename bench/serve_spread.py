"""Serving latency spread (issue 17): the open-loop step run N times at each rate, every tail
spike attributed, then wrk's closed-loop peak N times.

    python bench/serve_spread.py                    # 1M pairs, 500 RPS, 5 × 30 s, wrk 5 × 15 s
    python bench/serve_spread.py --artifacts DIR    # a trained version (DIR's CURRENT)
    python bench/serve_spread.py --pairs 100000 --runs 2 --seconds 20 \\
        --variant nofreeze:GC_FREEZE=false          # an A/B: both services, runs interleaved

The world is bench/serve_load.py's (``serve_world.py``): a synthetic model of ``--pairs`` pairs
(``bench/synthetic_model.py``, cached in ``--models``) or a trained ``--artifacts`` folder, a
real ``redis-server`` holding ``--users`` histories, and ``python -m service --workers N``; the
load is its open-loop generator (``serve_open_loop.py``: latency counted from each request's
scheduled time) in a separate process. Each ``--variant NAME:KEY=VALUE,…`` is one more service
with those settings beside the base one (``--env`` settings go to every service); the runs
alternate between them, so a noisy minute of the machine hits every variant alike.

Per run, beside the achieved rate, p50/p99/max, errors and the workers' CPU per request: what
can stretch the tail, as deltas over the run.

* GC: the workers' collector pauses (``ic_gc_pause_seconds{generation}``, read per worker from
  the multiprocess files): count, total, count over 1 ms, the longest (a bucket's bound).
* Event-loop blocking: ``ic_event_loop_lag_seconds`` (p99 and max, bucket bounds; counts over
  5 ms), which a GC pause on the loop's thread and CPU contention also lengthen.
* CPU contention: the time each worker's loop thread waited for a CPU (``/proc/PID/schedstat``),
  its involuntary context switches, the host's busy share, Redis's and the generator's CPU.
* Redis: the history read as the service timed it (``ic_redis_duration_seconds{operation=
  "read"}``: mean, p99 and max bucket bounds).
* Kernel: CPU steal, iowait and softirq shares (``/proc/stat``), CPU pressure stalls
  (``/proc/pressure/cpu``), the workers' major page faults (memory-mapped model pages read).

``suspects`` names the causes whose size could explain the run's tail (max − p50): a hint; the
figures are in the JSON. The summary per variant and rate: median and worst p99 and max over
the runs, errors, and the goal (median p99 ≤ 5 ms, worst ≤ 15 ms, wrk median ≥ 2,000 RPS, no
error) met or not. Written to ``--out`` (bench/results/serve_spread.json; .gitignore lets
``bench/results/serve_spread*.json`` be committed as the reference a later run is compared to).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # demo, from the checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))
from prometheus_client import CollectorRegistry, multiprocess

from contracts import artifacts

from serve_open_loop import load_step, measure
from serve_world import (
    Service,
    children_of,
    describe_model,
    machine,
    redis_world,
    sanity,
    say,
    write_results,
)
from serve_wrk import users_script, wrk
from synthetic_model import ensure_version

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
GOAL = {"median_p99_ms": 5.0, "worst_p99_ms": 15.0, "wrk_rps": 2000.0}
INF = float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1_000_000, help="synthetic model size")
    parser.add_argument("--models", type=Path, default=RESULTS, help="synthetic model cache")
    parser.add_argument("--artifacts", type=Path, help="serve this trained folder's CURRENT")
    parser.add_argument("--no-tables", action="store_true", help="synthetic: no neighbour tables")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rates", default="500", help="comma-separated open-loop rates")
    parser.add_argument("--runs", type=int, default=5, help="runs of each rate (and of wrk)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of one run")
    parser.add_argument("--pause", type=float, default=3.0, help="seconds between runs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--live-indexes", default="all", help="the service's LIVE_INDEXES")
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="a setting, every service"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE,…",
        help="one more service with these settings, measured in alternation with the base",
    )
    parser.add_argument("--wrk-connections", type=int, default=64)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--wrk-seconds", type=float, default=15.0, help="0: no wrk")
    parser.add_argument("--out", type=Path, default=RESULTS / "serve_spread.json")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    variants = {"base": settings(args.env)} | dict(map(variant, args.variant))
    variants = {name: settings(args.env) | extra for name, extra in variants.items()}

    results: dict[str, Any] = {"machine": machine(), "args": vars(args) | {"out": str(args.out)}}
    results["goal"] = GOAL
    started = time.perf_counter()
    if args.artifacts is not None:
        models = args.artifacts
        version = artifacts.read_current(models)
        if version is None:
            raise SystemExit(f"no CURRENT in {models}")
    else:
        models = args.models / f"model-{args.pairs}"
        version = ensure_version(models, args.pairs, tables=not args.no_tables)
    results["model"] = describe_model(models, version)
    say(f"model {version}: {results['model']['pairs']:,} pairs, {results['model']['mb']} MB")

    with redis_world(models, version, args.users, "serve-spread-") as world:
        children, work, redis_url, results["histories"] = world
        services = {
            name: Service(
                children, work, models, redis_url, args.live_indexes, args.workers, env, name
            )
            for name, env in variants.items()
        }
        results["variants"] = {n: {"env": env} for n, env in variants.items()}
        for name, service in services.items():
            results["variants"][name]["service"] = service.start()
            results["variants"][name]["sanity"] = sanity(service.port, args.users)
            say(f"{name} ready: {results['variants'][name]['service']}")
        with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as generator:
            for service in services.values():
                generator.submit(load_step, service.port, 50, 3, args.users, 0).result()
            results["runs"] = spread(services, generator, args)
        results["wrk"] = closed_loop(services, work, args)
    results["summary"] = summarise(results)
    write_results(results, args.out, started)
    table(results)
    say(f"wrote {args.out} ({results['wall_seconds']}s)")


def settings(pairs: list[str]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"give KEY=VALUE, got {pair!r}")
        found[key.strip().upper()] = value.strip()
    return found


def variant(text: str) -> tuple[str, dict[str, str]]:
    name, sep, pairs = text.partition(":")
    if not sep or not name or name == "base":
        raise SystemExit(f"give NAME:KEY=VALUE,… (NAME not 'base'), got {text!r}")
    return name, settings(pairs.split(","))


def spread(
    services: dict[str, Service], generator: ProcessPoolExecutor, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Every rate ``--runs`` times for every variant, alternating variants within a run."""
    runs = []
    for run in range(args.runs):
        for rate in (int(r) for r in args.rates.split(",")):
            for name, service in services.items():
                time.sleep(args.pause)
                before = Snapshot(service)
                step = measure(service, generator, rate, args.seconds, args.users)
                found = attribute(step, before, Snapshot(service), args.seconds)
                runs.append({"variant": name, "run": run, **step, "attribution": found})
                say(f"  {name} run {run}: suspects {found['suspects']}")
    return runs


def closed_loop(
    services: dict[str, Service], work: Path, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """wrk at ``--wrk-connections`` over ``--wrk-threads``, ``--runs`` times per variant."""
    if args.wrk_seconds <= 0:
        return []
    script = users_script(args.users, work)
    rows = []
    for run in range(args.runs):
        for name, service in services.items():
            time.sleep(args.pause)
            row = wrk(
                service, "candidates", args.wrk_connections, args.wrk_threads, args.wrk_seconds,
                script,
            )  # fmt: skip
            rows.append({"variant": name, "run": run, **row})
    return rows


class Snapshot:
    """The counters a run's attribution is the difference of: per worker (/proc and its
    multiprocess metrics file), the host's (/proc/stat, CPU pressure) and Redis's CPU."""

    def __init__(self, service: Service) -> None:
        self.at = time.perf_counter()
        self.workers = {pid: worker_state(service.metrics_dir, pid) for pid in service.workers()}
        self.host = host_cpu()
        self.pressure = cpu_pressure_us()
        self.redis = sum(process_cpu(pid)[0] for pid in redis_pids())


def worker_state(metrics_dir: Path, pid: int) -> dict[str, Any]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    status = Path(f"/proc/{pid}/status").read_text()
    switches = next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("nonvol")), 0
    )
    return {
        "cpu": (int(fields[11]) + int(fields[12])) / tick,
        "majflt": int(fields[9]),
        # the loop thread's time runnable but waiting for a CPU (ns)
        "runqueue": int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]),
        "involuntary": switches,
        "histograms": worker_histograms(metrics_dir, pid),
    }


WATCHED = {
    "ic_gc_pause_seconds": "generation",
    "ic_event_loop_lag_seconds": None,
    "ic_redis_duration_seconds": "operation",
}


def worker_histograms(metrics_dir: Path, pid: int) -> dict[str, dict[float, float]]:
    """The cumulative buckets (bound → count, and "sum") of the WATCHED histograms of one
    worker, keyed "name" or "name:label", from its own multiprocess file."""
    found: dict[str, dict[float, float]] = {}
    source = metrics_dir / f"histogram_{pid}.db"
    if not source.exists():
        return found
    with tempfile.TemporaryDirectory(prefix="worker-metrics-") as alone:
        os.symlink(source, Path(alone) / source.name)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, alone)
        for family in registry.collect():
            if family.name not in WATCHED:
                continue
            label = WATCHED[family.name]
            for sample in family.samples:
                key = family.name + (f":{sample.labels[label]}" if label else "")
                if sample.name.endswith("_bucket"):
                    found.setdefault(key, {})[float(sample.labels["le"])] = sample.value
                elif sample.name.endswith("_sum"):
                    found.setdefault(key, {})[-1.0] = sample.value  # -1: the sum
    return found


def host_cpu() -> list[int]:
    """/proc/stat's first line: user nice system idle iowait irq softirq steal (ticks)."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def cpu_pressure_us() -> int | None:
    """Microseconds some task waited for a CPU, host-wide (PSI), when the kernel reports it."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return int(line.rsplit("total=", 1)[1])


def redis_pids() -> list[int]:
    """This benchmark's redis-server (a child of this process)."""
    return [pid for pid, cmd in children_of(os.getpid()) if b"redis-server" in cmd]


def process_cpu(pid: int) -> tuple[float, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), int(fields[9])


def delta(after: dict[float, float], before: dict[float, float]) -> dict[float, float]:
    return {le: n - before.get(le, 0.0) for le, n in after.items()}


def bound_ms(buckets: dict[float, float], share: float) -> float | None:
    """The upper bound (ms) of the bucket holding the ``share`` quantile; None: no sample."""
    count = buckets.get(INF, 0.0)
    if count <= 0:
        return None
    for le in sorted(b for b in buckets if b >= 0):
        if buckets[le] >= share * count - 1e-9:
            return round(le * 1000, 3) if le != INF else INF
    return None


def above(buckets: dict[float, float], seconds: float) -> int:
    """Observations above ``seconds`` (a bucket bound)."""
    return int(buckets.get(INF, 0.0) - buckets.get(seconds, 0.0))


def attribute(
    step: dict[str, Any], before: Snapshot, after: Snapshot, seconds: float
) -> dict[str, Any]:
    """What could have stretched this run's tail, and the suspects its size points at."""
    wall = max(after.at - before.at, 1e-9)
    workers = {}
    merged: dict[str, dict[float, float]] = {}
    for pid, end in after.workers.items():
        start = before.workers.get(pid)
        if start is None:
            continue  # a worker replaced during the run: the supervisor's events tell
        hists = {k: delta(v, start["histograms"].get(k, {})) for k, v in end["histograms"].items()}
        for key, buckets in hists.items():
            total = merged.setdefault(key, {})
            for le, n in buckets.items():
                total[le] = total.get(le, 0.0) + n
        workers[str(pid)] = {
            "cpu_share": round((end["cpu"] - start["cpu"]) / wall, 3),
            "runqueue_ms_per_s": round((end["runqueue"] - start["runqueue"]) / 1e6 / wall, 2),
            "involuntary_switches": end["involuntary"] - start["involuntary"],
            "major_faults": end["majflt"] - start["majflt"],
            **gc_figures(hists),
            "loop_lag_max_ms": bound_ms(hists.get("ic_event_loop_lag_seconds", {}), 1.0),
        }
    lag = merged.get("ic_event_loop_lag_seconds", {})
    read = merged.get("ic_redis_duration_seconds:read", {})
    ticks = [b - a for a, b in zip(before.host, after.host, strict=True)]
    total_ticks = max(sum(ticks), 1)
    pressure = (
        None
        if before.pressure is None or after.pressure is None
        else round((after.pressure - before.pressure) / 1000 / wall, 1)
    )
    found: dict[str, Any] = {
        "gc": gc_figures(merged),
        "loop_lag": {
            "p99_ms_le": bound_ms(lag, 0.99),
            "max_ms_le": bound_ms(lag, 1.0),
            "over_5ms": above(lag, 0.005),
            "over_25ms": above(lag, 0.025),
        },
        "cpu": {
            "host_busy_share": round(1 - (ticks[3] + ticks[4]) / total_ticks, 3),
            "redis_cpu_share": round((after.redis - before.redis) / wall, 3),
            "generator_cpu_share": step.get("generator_cpu_share"),
            "pressure_some_ms_per_s": pressure,
        },
        "redis": {
            "read_mean_ms": round(read.get(-1.0, 0.0) * 1000 / max(read.get(INF, 0.0), 1), 3),
            "read_p99_ms_le": bound_ms(read, 0.99),
            "read_max_ms_le": bound_ms(read, 1.0),
        },
        "kernel": {
            "steal_share": round(ticks[7] / total_ticks, 4),
            "iowait_share": round(ticks[4] / total_ticks, 4),
            "softirq_share": round(ticks[6] / total_ticks, 4),
            "major_faults": sum(w["major_faults"] for w in workers.values()),
        },
        "workers": workers,
    }
    found["suspects"] = suspects(step, found)
    return found


def gc_figures(hists: dict[str, dict[float, float]]) -> dict[str, Any]:
    gens = {k.rsplit(":", 1)[1]: v for k, v in hists.items() if k.startswith("ic_gc_pause")}
    longest = [b for b in (bound_ms(v, 1.0) for v in gens.values()) if b is not None]
    return {
        "gc_pauses": int(sum(v.get(INF, 0.0) for v in gens.values())),
        "gc_ms": round(sum(v.get(-1.0, 0.0) for v in gens.values()) * 1000, 2),
        "gc_over_1ms": sum(above(v, 0.001) for v in gens.values()),
        "gc_longest_ms_le": max(longest, default=None),
        "gc_by_generation": {
            g: {"n": int(v.get(INF, 0.0)), "ms": round(v.get(-1.0, 0.0) * 1000, 2)}
            for g, v in sorted(gens.items())
        },
    }


def suspects(step: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """The causes big enough to explain the tail (max − p50), largest first: a GC pause at least
    half of it; CPU waits above 5% of the time (or a saturated host); a loop stall at least half
    of it that neither GC nor CPU waits explain; a Redis read at least half of it while the loop
    was neither late nor short of CPU; steal, iowait or major faults. Bucket bounds overstate a
    cause by up to one bucket."""
    excess = max(step["max_ms"] - step["p50_ms"], 0.0)
    half = excess / 2
    named: list[tuple[float, str]] = []
    gc_ms = found["gc"]["gc_longest_ms_le"] or 0.0
    lag_ms = found["loop_lag"]["max_ms_le"] or 0.0
    if gc_ms >= half:
        named.append((gc_ms, f"GC (a pause ≤ {gc_ms:g} ms)"))
    waits = [w["runqueue_ms_per_s"] for w in found["workers"].values()]
    cpu = found["cpu"]
    if max(waits, default=0.0) >= 50 or cpu["host_busy_share"] >= 0.95:  # 5% of the time
        named.append(
            (max(waits, default=0.0), f"CPU contention (runqueue {waits} ms/s, host busy "
             f"{cpu['host_busy_share']:.0%}, generator {cpu['generator_cpu_share']})")
        )  # fmt: skip
    contended = max(waits, default=0.0) >= 50
    if lag_ms >= half and gc_ms < lag_ms / 2 and not contended:
        named.append((lag_ms, f"event-loop blocking (a lag ≤ {lag_ms:g} ms, not GC)"))
    # a read's time includes the wait for the loop to resume it (behind every ready request):
    # Redis only when the loop was neither late nor short of CPU
    redis_ms = found["redis"]["read_max_ms_le"] or 0.0
    if redis_ms >= half and lag_ms < redis_ms / 2 and not contended:
        named.append((redis_ms, f"Redis (a read ≤ {redis_ms:g} ms, redis-server CPU "
                      f"{cpu['redis_cpu_share']})"))  # fmt: skip
    kernel = found["kernel"]
    if kernel["steal_share"] >= 0.01 or kernel["iowait_share"] >= 0.05 or kernel["major_faults"]:
        named.append((0.0, f"kernel ({kernel})"))
    return [text for _, text in sorted(named, key=lambda n: -n[0])] or ["none found"]


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """Per variant and rate: median and worst p99 and max over the runs; wrk's median; the goal."""
    summary: dict[str, Any] = {}
    for name in results["variants"]:
        rows: dict[str, Any] = {}
        for rate in sorted({r["rate"] for r in results["runs"]}):
            runs = [r for r in results["runs"] if r["variant"] == name and r["rate"] == rate]
            p99s, maxes = [r["p99_ms"] for r in runs], [r["max_ms"] for r in runs]
            rows[str(rate)] = {
                "runs": len(runs),
                "p99_ms": p99s,
                "median_p99_ms": statistics.median(p99s),
                "worst_p99_ms": max(p99s),
                "median_max_ms": statistics.median(maxes),
                "worst_max_ms": max(maxes),
                "median_achieved_rps": statistics.median(r["achieved_rps"] for r in runs),
                "errors": sum(r["errors"] for r in runs),
                "median_cpu_ms_per_request": statistics.median(
                    r["server_cpu_ms_per_request"] for r in runs
                ),
                "goal_met": statistics.median(p99s) <= GOAL["median_p99_ms"]
                and max(p99s) <= GOAL["worst_p99_ms"]
                and sum(r["errors"] for r in runs) == 0,
            }
        wrk_runs = [w for w in results["wrk"] if w["variant"] == name]
        if wrk_runs:
            rps = [w["rps"] or 0.0 for w in wrk_runs]
            rows["wrk"] = {
                "rps": rps,
                "median_rps": statistics.median(rps),
                "errors": sum(w["errors"] for w in wrk_runs),
                "goal_met": statistics.median(rps) >= GOAL["wrk_rps"]
                and sum(w["errors"] for w in wrk_runs) == 0,
            }
        summary[name] = rows
    return summary


def table(results: dict[str, Any]) -> None:
    head = (
        f"{'variant':10} {'rate':>5} {'run':>3} {'rps':>7} {'p50':>6} {'p99':>7} {'max':>7} "
        f"{'err':>4} {'cpu/req':>7} {'gc>1ms':>6} {'gcmax':>6} {'lagmax':>6} {'rq ms/s':>12} "
        f"{'redis99':>7}  suspects"
    )
    print(head)
    for r in results["runs"]:
        a = r["attribution"]
        waits = ",".join(f"{w['runqueue_ms_per_s']:.0f}" for w in a["workers"].values())
        print(
            f"{r['variant']:10} {r['rate']:>5} {r['run']:>3} {r['achieved_rps']:>7} "
            f"{r['p50_ms']:>6} {r['p99_ms']:>7} {r['max_ms']:>7} {r['errors']:>4} "
            f"{r['server_cpu_ms_per_request']:>7} {a['gc']['gc_over_1ms']:>6} "
            f"{a['gc']['gc_longest_ms_le'] or '-'!s:>6} {a['loop_lag']['max_ms_le'] or '-'!s:>6} "
            f"{waits:>12} {a['redis']['read_p99_ms_le'] or '-'!s:>7}  {'; '.join(a['suspects'])}"
        )
    for w in results["wrk"]:
        print(f"wrk {w['variant']:10} run {w['run']}: {w['rps']} RPS, errors {w['errors']}")
    print(json.dumps(results["summary"], indent=1))


if __name__ == "__main__":
    main()
