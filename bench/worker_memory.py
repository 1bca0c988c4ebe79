"""Memory per worker and load time against catalogue size (issue 16, point 3).

    python bench/worker_memory.py                                   # 1M, 5M, 10M pairs
    python bench/worker_memory.py --pairs 1000000 --requests 3000   # one size
    mkdir /tmp/ic-before && git archive <commit> | tar -x -C /tmp/ic-before   # code to compare
    python bench/worker_memory.py --before /tmp/ic-before

For each size, a version of ``publish_sampled`` (bench/synthetic_model.py: the full catalogue,
popular items and the default neighbour tables, small vectors, indexes over a sample) is built
once into ``--models``, with a hard-linked copy in catalogue format 1 (schema 1, ``items.tsv``
only: what trainers wrote before ``catalog/``). Then, for each code under test, ``--workers``
processes (``LIVE_INDEXES=none``: no live index) each import the service, load the version with
``service.model.load_model`` (hashes skipped, as for the second worker of a pod), answer
``--requests`` in-process requests (``service.candidates.answer``: both modules for a random
history of 6 views, 0-3 carts, 0-2 purchases, k=100; no Redis, no HTTP), and, once all of them
are there, read ``/proc/self/smaps_rollup``: private (``Private_Clean + Private_Dirty``),
shared, ``Pss`` and ``Anonymous`` (the heap: what no other process can share). A worker that
only imports the service is measured too (``baseline``), so what the model costs shows.

The codes: ``after`` (this checkout) on the version (format 2, arrays) and on its format-1 copy
(converted at load); with ``--before DIR``, that checkout on the format-1 copy. Prints a table
and writes ``bench/results/worker_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from contracts import artifacts
from contracts.popular import Popular

from synthetic_model import ensure_sampled

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

WORKER = r"""
import json, random, sys, time
args = json.loads(sys.argv[1])
import numpy as np
import service.app  # noqa: F401  (what a worker imports)
from contracts.interactions import Interaction
from service import candidates
from service.history import UserHistory
from service.settings import Settings

def rollup():
    found = {}
    for line in open("/proc/self/smaps_rollup"):
        parts = line.split()
        if len(parts) == 3 and parts[2] == "kB":
            found[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return {
        "rss_mb": round(found["Rss"], 1),
        "pss_mb": round(found["Pss"], 1),
        "private_mb": round(found["Private_Clean"] + found["Private_Dirty"], 1),
        "shared_mb": round(found["Shared_Clean"] + found["Shared_Dirty"], 1),
        "anonymous_mb": round(found["Anonymous"], 1),
    }

out = {}
if args["version"]:
    from service.model import load_model
    started = time.perf_counter()
    model = load_model(args["root"], args["version"], check_hashes=False, live=())
    out["load_seconds"] = round(time.perf_counter() - started, 3)
    out["after_load"] = rollup()
    rng = random.Random(args["seed"])
    n = len(model.item_ids)
    carted = np.flatnonzero(np.asarray(model.item_token[:, int(Interaction.CART)]) >= 0)
    carted = carted[:5000].tolist()
    def ids(rows):
        return [model.item_ids[int(r)] for r in rows]
    histories = []
    for _ in range(args["requests"]):
        views = ids(rng.sample(range(n), 6))
        carts = ids(rng.sample(carted, rng.randrange(4)))
        bought = ids(rng.sample(range(n), rng.randrange(3)))
        histories.append(UserHistory(views[:4], [], carts, bought))
    settings = Settings()
    options = candidates.Options(k_viewed=100, k_carted=100)
    timer = lambda name: __import__("contextlib").nullcontext()
    warm = max(1, len(histories) // 10)
    for history in histories[:warm]:
        candidates.answer(model, settings, history, options, timer=timer)
    times = []
    for history in histories[warm:]:
        t0 = time.perf_counter()
        answer = candidates.answer(model, settings, history, options, timer=timer)
        times.append(time.perf_counter() - t0)
    times.sort()
    out["request_ms"] = {
        "mean": round(1000 * sum(times) / len(times), 3),
        "p50": round(1000 * times[len(times) // 2], 3),
        "p99": round(1000 * times[int(len(times) * 0.99)], 3),
        "count": len(times),
    }
    out["candidates_per_answer"] = sum(len(m.candidates) for m in answer.modules)
print("ready", flush=True)
sys.stdin.readline()
out["measured"] = rollup()
print(json.dumps(out), flush=True)
"""


def say(message: str) -> None:
    print(f"[worker_memory {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def format_1_copy(models: Path, version: str) -> Path:
    """A hard-linked copy of ``version`` as catalogue format 1 (schema 1, no ``catalog/``, the
    popular lists as ``popular.json``), in an artifacts folder of its own beside ``models``;
    returns that folder."""
    root = models.with_name(f"{models.name}-format1")
    folder = artifacts.version_dir(root, version)
    if folder.is_dir():
        return root
    origin = artifacts.version_dir(models, version)
    raw = json.loads((origin / artifacts.MANIFEST).read_text(encoding="utf-8"))
    arrays = ("catalog/", artifacts.POPULAR + "/")
    raw["files"] = {n: e for n, e in raw["files"].items() if not n.startswith(arrays)}
    raw["schema_version"] = 1
    stage = folder.with_name(f".tmp-{version}")
    shutil.rmtree(stage, ignore_errors=True)
    for name in raw["files"]:
        (stage / name).parent.mkdir(parents=True, exist_ok=True)
        os.link(origin / name, stage / name)
    lists = Popular.open(origin / artifacts.POPULAR).to_json()  # schema 1 has popular.json
    (stage / artifacts.POPULAR_JSON).write_text(json.dumps(lists), encoding="utf-8")
    raw["files"][artifacts.POPULAR_JSON] = artifacts.file_entry(
        stage / artifacts.POPULAR_JSON
    ).model_dump()
    (stage / artifacts.MANIFEST).write_text(json.dumps(raw, indent=2), encoding="utf-8")
    stage.rename(folder)
    return root


def run_workers(
    code: Path, root: Path, version: str | None, workers: int, requests: int
) -> list[dict[str, Any]]:
    """``workers`` processes of ``code`` that load ``version`` (None: nothing), measured
    together once all of them are ready."""
    env = {**os.environ, "PYTHONPATH": str(code), "LIVE_INDEXES": "none"}
    procs = []
    for w in range(workers):
        arg = json.dumps(
            {"root": str(root), "version": version, "requests": requests, "seed": 11 + w}
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, arg],
                cwd=code,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"a worker of {code} failed before it was ready: {line!r}")
        found = []
        for proc in procs:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write("measure\n")
            proc.stdin.flush()
        for proc in procs:
            assert proc.stdout is not None
            found.append(json.loads(proc.stdout.readline()))
            proc.wait(timeout=60)
        return found
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", default="1000000,5000000,10000000")
    parser.add_argument("--models", type=Path, default=RESULTS, help="model cache folder")
    parser.add_argument("--table-k", type=int, default=16, help="the sampled tables' depth")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=2000, help="per worker")
    parser.add_argument("--before", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--out", type=Path, default=RESULTS / "worker_memory.json")
    args = parser.parse_args()

    codes = [("after", ROOT, "format 2")]
    codes.append(("after", ROOT, "format 1"))
    if args.before is not None:
        codes.append(("before", args.before.resolve(), "format 1"))
    results: dict[str, Any] = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "runs": [],
    }
    for code_name, code, _ in codes[:1] + ([codes[-1]] if args.before else []):
        base = run_workers(code, ROOT, None, args.workers, 0)
        results["runs"].append({"code": code_name, "pairs": 0, "format": None, "workers": base})
        say(f"{code_name} baseline: {base}")
    for pairs in [int(p) for p in args.pairs.split(",")]:
        suffix = "" if args.table_k == 16 else f"-k{args.table_k}"
        models = args.models / f"model-sampled-{pairs}{suffix}"
        version = ensure_sampled(models, pairs, table_k=args.table_k)
        manifest = artifacts.verify_version(artifacts.version_dir(models, version), False)
        roots = {"format 2": models, "format 1": format_1_copy(models, version)}
        for code_name, code, fmt in codes:
            workers = run_workers(code, roots[fmt], version, args.workers, args.requests)
            run = {
                "code": code_name,
                "pairs": pairs,
                "items": manifest.data.items,
                "format": fmt,
                "version": version,
                "root": str(roots[fmt]),
                "workers": workers,
            }
            results["runs"].append(run)
            say(f"{code_name} {fmt} {pairs:,}: {workers}")
    results["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    table(results)
    say(f"wrote {args.out}")


def table(results: dict[str, Any]) -> None:
    print(
        "| code | catalogue | pairs | items | load s | private MB | anonymous MB | shared MB "
        "| Pss MB | request ms mean / p99 |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for run in results["runs"]:
        workers = run["workers"]

        def mean(key: str, part: str = "measured", ws: list[dict[str, Any]] = workers) -> str:
            return f"{sum(w[part][key] for w in ws) / len(ws):,.0f}"

        load = "—"
        request = "—"
        if "load_seconds" in workers[0]:
            load = " / ".join(f"{w['load_seconds']:.2f}" for w in workers)
            request = " / ".join(
                f"{w['request_ms']['mean']:.2f}, {w['request_ms']['p99']:.2f}" for w in workers
            )
        print(
            f"| {run['code']} | {run['format'] or 'none (baseline)'} | {run['pairs']:,} "
            f"| {run.get('items', 0):,} | {load} | {mean('private_mb')} | {mean('anonymous_mb')} "
            f"| {mean('shared_mb')} | {mean('pss_mb')} | {request} |"
        )


if __name__ == "__main__":
    main()
