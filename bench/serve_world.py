"""The serving benchmark's world: the machine, the model, Redis with users' histories, and
``python -m service`` as a subprocess with its workers' /proc (bench/serve_load.py)."""

from __future__ import annotations

import json
import os
import random
import re
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from contracts import artifacts
from contracts.interactions import Interaction
from contracts.redis_keys import history_key
from demo.processes import Children, StopSignal
from demo.redis import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parent.parent
K = 100
CANDIDATES_PATH = "/v1/users/{user_id}/candidates"


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


def write_results(results: dict[str, Any], out: Path, started: float) -> None:
    """The benchmark's results as JSON, with its wall time and the load average at its end."""
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")


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
    """``python -m service --workers N`` (2 by default) on a free port, its log, its workers'
    /proc. ``env`` adds or overrides service settings; ``name`` tells several services apart
    (their log and metrics folder)."""

    def __init__(
        self,
        children: Children,
        work: Path,
        models: Path,
        redis_url: str,
        live_indexes: str,
        workers: int = 2,
        env: dict[str, str] | None = None,
        name: str = "service",
    ) -> None:
        self.children, self.work, self.port = children, work, free_port()
        self.name, self.worker_count = name, workers
        self.log = work / f"{name}.log"
        self.metrics_dir = work / ("metrics" if name == "service" else f"metrics-{name}")
        self.env = (
            os.environ
            | {
                "ARTIFACTS_DIR": str(models),
                "REDIS_URL": redis_url,
                "RELOAD_INTERVAL_SECONDS": "1",
                "LIVE_INDEXES": live_indexes,
                "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
                "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent), str(ROOT)]),
            }
            | (env or {})
        )
        self.metrics_dir.mkdir()
        self._read_to, self._loads = 0, []

    def start(self, timeout: float = 600) -> dict[str, Any]:
        cmd = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(self.port)]
        started = time.perf_counter()
        self.child = self.children.start(
            self.name,
            [*cmd, "--workers", str(self.worker_count)],
            env=self.env,
            log=self.log,
            grace_seconds=15,
        )
        self.proc = self.child.process
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited; see {self.log}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2):
                    pass
                if len(self.loads()) >= self.worker_count:
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
        """The uvicorn worker pids: children of the master that are not helper processes (the
        master itself with one worker: it serves)."""
        if self.worker_count == 1:
            return [self.proc.pid]
        return [pid for pid, cmd in children_of(self.proc.pid) if b"resource_tracker" not in cmd]

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


def children_of(parent: int) -> list[tuple[int, bytes]]:
    """(pid, command line) of every live child process of ``parent``, by pid."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            cmdline = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = re.search(r"PPid:\s*(\d+)", text)
        if ppid and int(ppid.group(1)) == parent:
            found.append((int(status.parent.name), cmdline))
    return sorted(found)


@contextmanager
def redis_world(
    models: Path, version: str, users: int, prefix: str
) -> Iterator[tuple[Children, Path, str, dict[str, Any]]]:
    """A temporary work folder and a redis-server holding ``users`` histories of ``version``'s
    items: (children, folder, Redis URL, what the histories hold). Every child process started
    in it is stopped on exit, Ctrl-C or error."""
    children = Children(StopSignal())
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        try:
            work = Path(tmp)
            redis_url = start_redis(children, work)
            histories = fill_histories(redis_url, models, version, users)
            say(f"histories: {histories}")
            yield children, work, redis_url, histories
        finally:
            children.stop_all()


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
