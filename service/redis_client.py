"""The Redis connection behind the history store: one node, or a Redis Cluster.

``connect`` builds either client with the same bounds: connecting and reading each give up after
the timeout (one node's reads: within the history store's deadline per operation, below), a
timeout is not retried (a slow Redis costs one timeout, not three), a connection
Redis closed is retried once at once, idle connections are PINGed before use. With a cluster
(``REDIS_CLUSTER=true``) the URL names any node; the client learns the others and their slots,
follows MOVED/ASK redirections and re-learns the map after a failover, with at most
``max_connections`` sockets per node.

``healthy`` is what readiness and the ``ic_redis_up`` metric mean by "Redis is up": a PING for one
node; for a cluster, the slot map re-read, ``cluster_state:ok`` (every slot served) and a PING
answered by every master, so a cluster that has lost a slot range is reported down even though
some nodes answer, and one that has failed over is reported up again at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

IDLE_CHECK_SECONDS = 10  # a pooled connection idle this long is PINGed before its next use

Client = aioredis.Redis | RedisCluster


def connect(url: str, cluster: bool, timeout_seconds: float, max_connections: int) -> Client:
    """A client for ``url`` (bytes replies), bounded as the module says."""
    bounds: dict[str, Any] = {
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": timeout_seconds,
        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        "health_check_interval": IDLE_CHECK_SECONDS,
        "decode_responses": False,
    }
    if cluster:
        # A cluster missing a slot range still serves the others' users.
        return RedisCluster.from_url(
            url, max_connections=max_connections, require_full_coverage=False, **bounds
        )
    # No socket timeout of its own: every operation of the history store runs within its
    # deadline (``HistoryStore._bounded``), which covers the whole round trip; a socket timeout
    # would add a task per command sent and a timer per reply read (~20 µs of CPU per read).
    bounds["socket_timeout"] = None
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=timeout_seconds, **bounds
    )
    return aioredis.Redis.from_pool(pool)


def decodes(client: Client) -> bool:
    """Whether ``client`` decodes replies to str (the history store needs bytes)."""
    if isinstance(client, RedisCluster):
        return bool(client.get_connection_kwargs().get("decode_responses"))
    return bool(client.connection_pool.connection_kwargs.get("decode_responses"))


def where(client: Client) -> str:
    """``Redis at host:port`` or ``Redis Cluster at host:port`` (the node the URL named)."""
    if isinstance(client, RedisCluster):
        kwargs = client.get_connection_kwargs()
        seed = client.nodes_manager.startup_nodes
        first = next(iter(seed.values()), None)
        place = f"{first.host}:{first.port}" if first else kwargs.get("host", "?")
        return f"Redis Cluster at {place}"
    kwargs = client.connection_pool.connection_kwargs
    place = kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
    return f"Redis at {place}"


async def healthy(client: Client) -> bool:
    """One node: it answers PING. A cluster: ``cluster_state:ok`` and every master answers."""
    if not isinstance(client, RedisCluster):
        return bool(await client.ping())
    # The slot map anew (one CLUSTER SLOTS): after a failover the client may still list a dead
    # master, which requests would only drop after their own errors.
    await client.nodes_manager.initialize()
    info = await client.cluster_info(target_nodes=RedisCluster.RANDOM)
    if info.get("cluster_state") != "ok":
        return False
    answers = await client.ping(target_nodes=RedisCluster.PRIMARIES)
    return bool(answers) and (all(answers.values()) if isinstance(answers, dict) else True)


async def open_connections(client: Client, count: int, within_seconds: float) -> int:
    """Open and PING up to ``count`` connections at once (per master with a cluster, which
    also learns the slot map now); how many answered. Never raises."""

    async def one(pool: aioredis.ConnectionPool) -> bool:
        connection = await pool.get_connection()
        try:
            await connection.send_command("PING")
            return bool(await connection.read_response())
        finally:
            await pool.release(connection)

    try:
        async with asyncio.timeout(within_seconds):
            if isinstance(client, RedisCluster):
                await client.initialize()
                masters = client.get_primaries()
                each = max(1, count // max(1, len(masters)))
                pings = [client.ping(target_nodes=m) for m in masters for _ in range(each)]
                answered = await asyncio.gather(*pings, return_exceptions=True)
            else:
                pool = client.connection_pool
                limit = getattr(pool, "max_connections", count)
                answered = await asyncio.gather(
                    *(one(pool) for _ in range(min(count, limit))), return_exceptions=True
                )
    except Exception:  # a Redis down at start-up is noticed by requests and /readyz
        return 0
    return sum(a is True for a in answered)
