"""``python -m service`` as deployed, in a child process on a free port, for the tests that need
the real HTTP server (its protocol, its workers, its supervisor)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from demo.redis import free_port


@dataclass(frozen=True)
class Running:
    port: int
    pid: int  # the master's (with several workers) or the only process's
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def running_service(
    artifacts_dir: Path, redis_url: str, folder: Path, workers: int = 1, **env: str
) -> Iterator[Running]:
    """The service on a free port, ready (``/readyz`` 200 and every worker up); stopped after.
    ``env`` adds or overrides environment variables (settings)."""
    port = free_port()
    metrics = folder / "metrics"
    metrics.mkdir(exist_ok=True)
    variables = (
        os.environ
        | {
            "ARTIFACTS_DIR": str(artifacts_dir),
            "REDIS_URL": redis_url,
            "RELOAD_INTERVAL_SECONDS": "0.5",
            "ACCESS_LOG": "false",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
            "WORKER_HEALTHCHECK_SECONDS": "600",  # longer than any wait of a test
        }
        | env
    )
    cmd = [sys.executable, "-m", "service", "--port", str(port), "--workers", str(workers)]
    log = folder / "service.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=variables, stdout=out, stderr=subprocess.STDOUT)
    try:
        if workers == 1:
            wait_until(lambda: ready(port), 120)
        else:
            wait_until(lambda: len(listening_workers(proc.pid, port)) == workers, 120)
        yield Running(port, proc.pid, log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def wait_until(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def worker_pids(master: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if f"\nPPid:\t{master}\n" in text and "resource_tracker" not in _cmdline(status):
            found.append(int(status.parent.name))
    return found


def listening_workers(master: int, port: int) -> list[int]:
    """The workers of ``master`` that listen on ``port`` (a worker listens once it can answer)."""
    return [pid for pid in worker_pids(master) if socket_inodes(pid, port, LISTEN)]


LISTEN, ESTABLISHED = "0A", "01"


def socket_inodes(pid: int, port: int, state: str) -> dict[str, int]:
    """inode → remote port of ``pid``'s TCP sockets on local ``port`` in ``state``."""
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
        table = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return {}
    owned = set()
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            owned.add(target[8:-1])
    found = {}
    for line in table:
        fields = line.split()
        local, remote, st, inode = fields[1], fields[2], fields[3], fields[9]
        if st == state and int(local.split(":")[1], 16) == port and inode in owned:
            found[inode] = int(remote.split(":")[1], 16)
    return found


def _cmdline(status: Path) -> str:
    try:
        return (status.parent / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def refused_start(**env: str) -> list[str]:
    """``python -m service`` with ``env`` added to the environment, which must stop before
    serving with exit code 2 (a bad setting); the lines it wrote to stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "service"], env=os.environ | env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    return done.stderr.strip().splitlines()
