"""Several worker processes, each accepting on its own SO_REUSEPORT socket.

uvicorn's multi-worker mode shares one listening socket between its workers: the worker that
wakes first accepts every pending connection, so under keep-alive traffic one worker can end up
serving nearly everything while the other idles (measured: a whole 100 req/s stepped load on
one of two workers, docs/benchmarks.md "Serving"). With one SO_REUSEPORT socket per worker the
kernel spreads new connections over the workers by hash, as nginx's ``reuseport`` does.

Supervision stays uvicorn's (``Multiprocess``: health pings, hung or dead workers replaced,
signals); only the socket each worker gets changes: worker slot i always listens on socket i,
so a replaced worker takes over exactly the socket of the one it replaces, and a worker that dies
is noticed at once even mid-ping (the supervisor drops its copy of the pipe's far end). The
worker count is fixed (SIGTTIN/SIGTTOU are refused).
"""

from __future__ import annotations

import logging
import socket

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

log = logging.getLogger("uvicorn.error")


def reuse_port_sockets(host: str, port: int, count: int, backlog: int) -> list[socket.socket]:
    """``count`` listening sockets on the same address, each with SO_REUSEPORT."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets = []
    for _ in range(count):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.set_inheritable(True)
        sockets.append(sock)
    return sockets


class ReusePortMultiprocess(Multiprocess):
    """uvicorn's supervisor with one socket per worker slot (``len(sockets)`` workers)."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.processes_num = len(sockets)

    def _spawn(self, slot: int) -> Process:
        process = Process(self.config, [self.sockets[slot]])
        process.start()
        # The worker has its own copy of the health pipe's far end now. Were ours left open, a
        # worker that dies while a ping is pending would never close the pipe: the ping would
        # wait out the whole health-check timeout before the worker is replaced.
        process.child_conn.close()
        return process

    def init_processes(self) -> None:
        self.processes = [self._spawn(slot) for slot in range(self.processes_num)]

    def restart_all(self) -> None:
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._spawn(slot)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                log.error("worker %s was not ready in time; keeping %s", new.pid, old.pid)
                return
            old.terminate()
            old.join()
            self.processes[slot] = new

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung, or already dead
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("worker %s failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.info("worker %s died; replacing it on socket %d", process.pid, slot)
            self.processes[slot] = self._spawn(slot)

    def handle_ttin(self) -> None:
        log.warning("SIGTTIN ignored: the worker count is fixed (one socket each)")

    def handle_ttou(self) -> None:
        log.warning("SIGTTOU ignored: the worker count is fixed (one socket each)")
