"""Child processes that stop when the demo stops, whatever way it stops.

Each child runs in its own process group, so a terminal's Ctrl-C reaches only the demo, which
then stops the children in the reverse order of their start (the service before Redis):
SIGTERM, a grace period, then SIGKILL. On Linux each child is also asked to receive SIGTERM
should the demo itself die without cleaning up (``PR_SET_PDEATHSIG``), so no path leaves an
orphan behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

PR_SET_PDEATHSIG = 1


class Stopped(Exception):
    """Ctrl-C or SIGTERM arrived: unwind and stop the children."""


class StopSignal:
    """Turns SIGINT and SIGTERM into a flag that every wait in the demo checks."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name = ""

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name
        self.event.set()

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def check(self) -> None:
        """Raise ``Stopped`` if a stop was asked for."""
        if self.event.is_set():
            raise Stopped(self.signal_name)

    def sleep(self, seconds: float) -> None:
        """Sleep, but raise ``Stopped`` as soon as a stop is asked for."""
        if self.event.wait(seconds):
            raise Stopped(self.signal_name)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    command: Sequence[str], env: Mapping[str, str] | None, stdout: Any, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new process group, to die with us; its stderr goes where its
    stdout goes, or to our stderr when stdout is a pipe (the caller reads results from it)."""
    return subprocess.Popen(
        list(command),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=sys.stderr if stdout is subprocess.PIPE else subprocess.STDOUT,
        process_group=0,
        preexec_fn=_die_with_parent,
    )


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    grace_seconds: float

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM its process group, wait up to the grace period, then SIGKILL it."""
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=self.grace_seconds)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait()
        # Whatever it started in its group goes too (e.g. uvicorn's workers).
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)


class Children:
    """The processes the demo started, stopped in reverse order by ``stop_all``."""

    def __init__(self, stop: StopSignal) -> None:
        self.stop = stop
        self.started: list[Child] = []

    def start(
        self,
        name: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        grace_seconds: float = 10.0,
    ) -> Child:
        """Start ``command`` in its own process group; output to ``log`` or to our stderr."""
        out = open(log, "ab") if log else None  # noqa: SIM115 (the child owns it)
        try:
            process = spawn(command, env, stdout=out or sys.stderr)
        finally:
            if out:
                out.close()
        child = Child(name, process, grace_seconds)
        self.started.append(child)
        return child

    def adopt(self, name: str, process: subprocess.Popen[bytes], grace_seconds: float) -> Child:
        """Stop ``process`` (started with ``spawn``) with the others."""
        child = Child(name, process, grace_seconds)
        self.started.append(child)
        return child

    def run(self, name: str, command: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        """Run ``command`` to completion (stoppable); return its stdout; fail on non-zero exit."""
        process = spawn(command, env, stdout=subprocess.PIPE)
        child = Child(name, process, grace_seconds=5.0)
        self.started.append(child)
        output: list[bytes] = []
        stdout = process.stdout
        assert stdout is not None
        reader = threading.Thread(target=lambda: output.append(stdout.read()))
        reader.start()
        try:
            while process.poll() is None:
                self.stop.sleep(0.1)
        finally:
            if process.poll() is None:
                child.stop()
            reader.join()
            self.started.remove(child)
        if process.returncode != 0:
            raise RuntimeError(f"{name} failed (exit code {process.returncode})")
        return b"".join(output).decode()

    def stop_all(self) -> None:
        """Stop every child, the last started first."""
        for child in reversed(self.started):
            child.stop()
        self.started.clear()

    def first_dead(self) -> Child | None:
        """A child that exited on its own, if any."""
        return next((c for c in self.started if not c.alive), None)


def wait_forever(stop: StopSignal, children: Children, poll_seconds: float = 0.5) -> None:
    """Block until a stop is asked for (raises ``Stopped``) or a child dies (raises)."""
    while True:
        dead = children.first_dead()
        if dead is not None:
            raise RuntimeError(f"{dead.name} exited unexpectedly (code {dead.process.returncode})")
        stop.sleep(poll_seconds)
