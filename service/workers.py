"""Several worker processes, each accepting on its own SO_REUSEPORT socket.

uvicorn's multi-worker mode shares one listening socket between its workers: the worker that
wakes first accepts every pending connection, so under keep-alive traffic one worker can end up
serving nearly everything while the other idles (measured: a whole 100 req/s stepped load on
one of two workers, docs/benchmarks.md "Serving"). With one SO_REUSEPORT socket per worker the
kernel spreads new connections over the workers by hash, as nginx's ``reuseport`` does.

Supervision stays uvicorn's (``Multiprocess``: health pings, hung or dead workers replaced,
signals); what changes is the socket each worker gets. The supervisor binds a fresh socket for
every worker it starts and hands it over without listening on it: asyncio listens when the
worker's server starts, i.e. after its start-up (the model load) is done, so a worker joins the
port only once it can answer, and a worker that waits for a model (``service/app.py``) takes
no share of the traffic. The supervisor keeps no copy, so a worker's socket dies with it and
new connections go to the live workers at once. A dead worker is noticed at once even mid-ping
(the supervisor drops its copy of the pipe's far end), and its live gauges are removed from the
metrics (``mark_process_dead``). The worker count is fixed (SIGTTIN/SIGTTOU are refused).
"""

from __future__ import annotations

import logging
import os
import socket

from prometheus_client import multiprocess
from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

log = logging.getLogger("uvicorn.error")


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A socket bound to the address with SO_REUSEPORT, not yet listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class ReusePortMultiprocess(Multiprocess):
    """uvicorn's supervisor of ``workers`` processes, each with a socket of its own."""

    def __init__(self, config: Config, workers: int) -> None:
        reuse_port_socket(config.host, config.port).close()  # the address is free: fail here
        super().__init__(config, [])
        self.processes_num = workers

    def _spawn(self) -> Process:
        sock = reuse_port_socket(self.config.host, self.config.port)
        process = Process(self.config, [sock])
        process.start()
        # The worker has its own copies now. Were our socket left open, it would keep listening
        # after the worker died, holding connections nobody accepts; were our end of the health
        # pipe left open, a worker that dies while a ping is pending would never close the pipe
        # and the ping would wait out the whole health-check timeout.
        sock.close()
        process.child_conn.close()
        return process

    def init_processes(self) -> None:
        self.processes = [self._spawn() for _ in range(self.processes_num)]

    def restart_all(self) -> None:
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._spawn()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                _forget(new)
                log.error("worker %s was not ready in time; keeping %s", new.pid, old.pid)
                return
            old.terminate()
            old.join()
            _forget(old)
            self.processes[slot] = new

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung, or already dead
            process.join()
            _forget(process)
            if process.exitcode == STARTUP_FAILURE:
                log.error("worker %s failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.info("worker %s died; replacing it", process.pid)
            self.processes[slot] = self._spawn()

    def handle_ttin(self) -> None:
        log.warning("SIGTTIN ignored: the worker count is fixed")

    def handle_ttou(self) -> None:
        log.warning("SIGTTOU ignored: the worker count is fixed")


def _forget(process: Process) -> None:
    """Drop a dead worker's live gauges (model version, Redis state…) from the metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") and process.pid is not None:
        multiprocess.mark_process_dead(process.pid)
