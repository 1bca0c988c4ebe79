"""``python -m service --workers 2``: connections spread over both workers, each on its own
SO_REUSEPORT socket, and a killed worker is replaced on its socket (service/workers.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port

CONNECTIONS = 64


@pytest.fixture
def service(artifacts_dir: Path, redis_url: str, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """(port, master pid) of a two-worker service; stopped afterwards."""
    port = free_port()
    env = os.environ | {
        "ARTIFACTS_DIR": str(artifacts_dir),
        "REDIS_URL": redis_url,
        "RELOAD_INTERVAL_SECONDS": "0",
        "ACCESS_LOG": "false",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    (tmp_path / "metrics").mkdir()
    cmd = [sys.executable, "-m", "service", "--port", str(port), "--workers", "2"]
    with open(tmp_path / "service.log", "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: ready(port) and len(workers(proc.pid)) == 2, 120)
        yield port, proc.pid
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


def workers(master: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if f"\nPPid:\t{master}\n" in text and "resource_tracker" not in read_cmdline(status):
            found.append(int(status.parent.name))
    return found


def read_cmdline(status: Path) -> str:
    try:
        return (status.parent / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def open_connections(port: int, n: int) -> list[socket.socket]:
    """``n`` keep-alive connections, each of which has been answered once."""
    conns = []
    for _ in range(n):
        conn = socket.create_connection(("127.0.0.1", port), timeout=60)
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        conns.append(conn)
    return conns


def peer_ports_of(pid: int, port: int) -> set[int]:
    """Remote ports of the established connections to ``port`` that ``pid`` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    peers = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if state == "01" and int(local.split(":")[1], 16) == port and inode in inodes:
            peers.add(int(remote.split(":")[1], 16))
    return peers


def test_keep_alive_connections_spread_over_both_workers(service):
    port, master = service
    conns = open_connections(port, CONNECTIONS)
    try:
        held = [len(peer_ports_of(pid, port)) for pid in workers(master)]
        assert sum(held) == CONNECTIONS
        assert min(held) >= CONNECTIONS // 5, held  # a shared socket gives one worker ~all
    finally:
        for conn in conns:
            conn.close()


def test_a_killed_worker_is_replaced_on_its_own_socket(service):
    port, master = service
    victim = workers(master)[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: victim not in workers(master) and len(workers(master)) == 2, 120)
    wait_until(lambda: ready(port), 120)
    # were the dead worker's socket left without a worker, about half of these would hang
    conns = open_connections(port, CONNECTIONS)
    for conn in conns:
        conn.close()
