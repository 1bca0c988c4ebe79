"""How training cost grows: wall time and peak memory per stage, and artifact bytes, against the
number of events, from synthetic logs of growing size run through `train` with the defaults.

    python bench/train_scale.py [--events 1e6,1e7,3e7] [--work /tmp/train-scale] \
        [--out bench/results/train_scale.json] [--train-args "--threads 2"]

Each size is a synthetic log (``trainer synth``, ~25 events a user, a quarter as many items as
users; cached in ``--work``), trained by ``python -m trainer --log-format json train`` in a child
process. The child's ``trainer.stages`` records (trainer/stages.py) give each stage's wall time;
its RSS, sampled every 0.2 s from /proc, gives each stage's peak; VmHWM the run's peak. Then a
least-squares line through the sizes gives the cost per million events (time, memory) and the
extrapolation to 100M and 1B events. Prints a table and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EVENTS_PER_USER = 25.0  # what the generator's defaults give (measured: 15,012 for 600 users)
SAMPLE_SECONDS = 0.2


def synth(events: int, work: Path) -> Path:
    """A synthetic log of about ``events`` events (made once, then reused)."""
    users = max(100, round(events / EVENTS_PER_USER))
    path = work / f"events-{users}u.parquet"
    if not path.exists():
        items, categories = max(1000, users // 4), max(50, 2 * (users // 2000))
        print(f"synthesising {users:,} users, {items:,} items…", flush=True)
        subprocess.run(
            [sys.executable, "-m", "trainer", "--log-format", "json", "synth", "--out", str(path),
             "--users", str(users), "--items", str(items), "--categories", str(categories)],
            check=True, cwd=ROOT,
        )  # fmt: skip
    return path


class Sampler(threading.Thread):
    """The child's RSS every SAMPLE_SECONDS, with the time of each sample."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_mb = pid, 0.0
        self.samples: list[tuple[float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):
            status = _status(self.pid)
            if not status:
                break
            self.samples.append((time.time(), status.get("VmRSS", 0.0)))
            self.peak_mb = max(self.peak_mb, status.get("VmHWM", 0.0))


def _status(pid: int) -> dict[str, float]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1e3  # kB → MB
    return found


def train(events_file: Path, artifacts: Path, extra: list[str]) -> dict[str, Any]:
    """One `train` run: its stages, peak memory, wall time and artifact bytes."""
    command = [sys.executable, "-m", "trainer", "--log-format", "json", "train", "--no-progress",
               "--events", str(events_file), "--artifacts", str(artifacts), *extra]  # fmt: skip
    started = time.time()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sampler = Sampler(child.pid)
    sampler.start()
    out, err = child.communicate()
    sampler.done.set()
    sampler.join()
    wall = time.time() - started
    if child.returncode != 0:
        raise SystemExit(f"train failed on {events_file}:\n{err.decode()[-3000:]}")
    records = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    stages = []
    for record in (r for r in records if r.get("logger") == "trainer.stages"):
        end = datetime.fromisoformat(record["time"].replace("Z", "+00:00")).timestamp()
        begin = end - record["seconds"]
        inside = [mb for t, mb in sampler.samples if begin <= t <= end]
        stages.append({"stage": record["stage"], "seconds": record["seconds"],
                       "peak_rss_mb": max(inside, default=record["rss_mb"])})  # fmt: skip
    version = out.decode().strip().splitlines()[-1]
    read = next((r["message"] for r in records if " read " in r.get("message", "")), "")
    return {"wall_seconds": round(wall, 1), "peak_rss_mb": round(sampler.peak_mb, 1),
            "stages": stages, "artifact_bytes": artifact_bytes(artifacts / "versions" / version),
            "read": read}  # fmt: skip


def artifact_bytes(version: Path) -> dict[str, int]:
    """Bytes per file group of a published version."""
    groups: dict[str, int] = defaultdict(int)
    for path in version.rglob("*"):
        if path.is_file():
            top = path.relative_to(version).parts[0]
            groups[top if path.parent != version else path.suffix or path.name] += (
                path.stat().st_size
            )
    return dict(sorted(groups.items(), key=lambda kv: -kv[1]))


def fit(sizes: list[int], values: list[float]) -> tuple[float, float]:
    """Least-squares ``value = a + b * events``: (a, b)."""
    if len(sizes) < 2:
        return 0.0, values[0] / sizes[0] if sizes else 0.0
    b, a = np.polyfit(np.array(sizes, float), np.array(values, float), 1)
    return float(a), float(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="1e6,1e7,3e7", help="Comma-separated sizes.")
    parser.add_argument("--work", type=Path, default=Path("/tmp/train-scale"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/train_scale.json")
    parser.add_argument("--train-args", default="", help="Extra flags for `trainer train`.")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    runs: dict[int, dict[str, Any]] = {}
    for size in [int(float(s)) for s in args.events.split(",")]:
        log = synth(size, args.work)
        artifacts = args.work / f"artifacts-{log.stem}"
        print(f"training on {log.name}…", flush=True)
        runs[size] = train(log, artifacts, args.train_args.split())
        run = runs[size]
        print(f"\n{size:,} events ({run['read']}): {run['wall_seconds']:.0f} s, "
              f"peak {run['peak_rss_mb']:,.0f} MB")  # fmt: skip
        for s in run["stages"]:
            print(f"  {s['stage']:<24} {s['seconds']:9.1f} s  {s['peak_rss_mb']:9,.0f} MB")
        print(
            "  artifacts: "
            + ", ".join(f"{k} {v / 1e6:,.0f} MB" for k, v in run["artifact_bytes"].items())
        )
        write(args.out, runs, {})  # each size as it finishes: a long run leaves what it measured
    sizes = sorted(runs)
    summary = {}
    for what in ("wall_seconds", "peak_rss_mb"):
        a, b = fit(sizes, [float(runs[n][what]) for n in sizes])
        summary[what] = {"fixed": a, "per_million_events": b * 1e6,
                         "at_100M": a + b * 1e8, "at_1B": a + b * 1e9}  # fmt: skip
        print(f"{what}: {a:,.1f} + {b * 1e6:,.2f} per million events → "
              f"100M: {a + b * 1e8:,.0f}, 1B: {a + b * 1e9:,.0f}")  # fmt: skip
    write(args.out, runs, summary)


def write(out: Path, runs: dict[int, dict[str, Any]], summary: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": runs, "fit": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
