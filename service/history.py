"""User histories in Redis: what the service reads seeds from and what POST /v1/events writes.

The key format and list semantics are the public contract in ``contracts.redis_keys``: per user
and interaction, a list of item ids, newest first, distinct, trimmed to ``length``, expiring
``ttl_seconds`` after the last write. Beside them, one hash maps item ids to category ids: an
event that names its item's category writes it, in the same atomic step as the history, and the
service reads it for history items its model does not know (cold items). Every operation is one
network round trip (a pipeline; a write takes a second one only right after Redis lost its
script cache), bounded by a timeout: a slow Redis must cost the request a few milliseconds and a
degraded answer, never a stalled worker. Failures surface as ``HistoryUnavailable``, which
callers turn into the popular-items fallback.

Upstream systems may write the keys directly, so reading is tolerant: duplicates are dropped
(first, i.e. newest, occurrence kept), values that are not UTF-8 are skipped, and a key holding
something other than a list (a hash for the categories) reads as empty (and is left alone by
writes) with a warning logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)
from redis.exceptions import (
    NoScriptError,
    RedisError,
    ResponseError,
)
from redis.exceptions import (
    TimeoutError as RedisTimeoutError,
)

from contracts.interactions import Interaction
from contracts.redis_keys import (
    DEFAULT_PREFIX,
    check_id,
    check_prefix,
    hidden_keys,
    history_key,
    item_category_key,
    times_key,
)
from service import metrics
from service.record_script import RECORD_SCRIPT, RECORD_SHA

log = logging.getLogger(__name__)
T = TypeVar("T")

# Events per script run. Redis serves nobody else while a script runs, so a run stays near a
# millisecond (~13 µs an event on Redis 6.2); a run per event would instead spend most of a
# batch's time on per-command overhead (a 1000-event batch: ~120 ms instead of ~20 ms).
SCRIPT_EVENTS = 100
IDLE_CHECK_SECONDS = 10  # a pooled connection idle this long is PINGed before its next use

SEED_INTERACTIONS = (Interaction.VIEW, Interaction.FAVORITE, Interaction.CART)


class Event(NamedTuple):
    """One interaction to record; a ``category_id`` also goes into the item-category hash.

    ``timestamp``: when it happened (unix seconds), or None for "now" (its arrival).
    """

    user_id: str
    item_id: str
    interaction: Interaction
    category_id: str | None = None
    timestamp: float | None = None


class Write(NamedTuple):
    """One event as the record script takes it (ids checked, ``at`` in unix seconds)."""

    list_key: str
    times_key: str
    item: str
    category: str  # '' for none
    at: str


class HistoryUnavailable(Exception):
    """Redis is down, refused the operation, or did not answer within the timeout."""


@dataclass(frozen=True)
class UserHistory:
    """One user's recent items per interaction: newest first, distinct."""

    views: list[str]
    favorites: list[str]
    carts: list[str]
    purchases: list[str]
    hidden_version: int = 0  # the hidden-items counter, read in the same round trip

    def is_empty(self) -> bool:
        """True for a user with no history at all (a cold start)."""
        return not (self.views or self.favorites or self.carts or self.purchases)


class HistoryStore:
    """Reads and writes user histories; every operation is one round trip within ``timeout``.

    ``client`` must return raw bytes (``decode_responses=False``) so that values which are not
    UTF-8 can be skipped instead of failing the whole read. ``from_url`` builds a suitable one.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str = DEFAULT_PREFIX,
        length: int = 50,
        ttl_seconds: int = 30 * 86400,
        timeout_seconds: float = 0.05,
    ) -> None:
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("HistoryStore needs a client with decode_responses=False")
        if length < 1 or ttl_seconds < 1 or timeout_seconds <= 0:
            raise ValueError(
                f"length ({length}), ttl_seconds ({ttl_seconds}) and timeout_seconds "
                f"({timeout_seconds}) must be positive"
            )
        self._client = client
        self.prefix = check_prefix(prefix)
        self.length = length
        self.ttl_seconds = ttl_seconds
        self.timeout_seconds = timeout_seconds
        kwargs = client.connection_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
        self._where = f"Redis at {where}"

    @classmethod
    def from_url(
        cls,
        url: str,
        timeout_seconds: float = 0.05,
        max_connections: int = 64,
        **kw: Any,
    ) -> HistoryStore:
        """A store on a bounded connection pool where each operation costs at most one timeout.

        Connecting and reading each give up after ``timeout_seconds``, and a timeout is not
        retried: a slow Redis should cost one timeout, not three. A connection that Redis closed
        (a restart, an idle-client kill, a failover) is retried once, at once, on a fresh
        connection, and connections idle for ``IDLE_CHECK_SECONDS`` are PINGed before use, so a
        restart costs no answer. At most ``max_connections`` sockets are opened; further
        callers wait for a free one (within the same timeout).
        """
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_seconds,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            health_check_interval=IDLE_CHECK_SECONDS,
            decode_responses=False,
        )
        return cls(aioredis.Redis.from_pool(pool), timeout_seconds=timeout_seconds, **kw)

    async def open_connections(self, count: int, within_seconds: float = 5.0) -> int:
        """Open and PING up to ``count`` pooled connections at once (at start-up, so that the
        first burst of requests does not spend its timeout connecting); how many answered.
        Never raises: a Redis that is down now is noticed by the requests and ``/readyz``."""
        pool = self._client.connection_pool

        async def one() -> bool:
            connection = await pool.get_connection()
            try:
                await connection.send_command("PING")
                return bool(await connection.read_response())
            finally:
                await pool.release(connection)

        count = min(count, getattr(pool, "max_connections", count))
        try:
            async with asyncio.timeout(within_seconds):
                answered = await asyncio.gather(
                    *(one() for _ in range(count)), return_exceptions=True
                )
        except TimeoutError:
            answered = []
        opened = sum(a is True for a in answered)
        metrics.REDIS_UP.set(1 if opened else 0)
        return opened

    async def read(self, user_id: str, seeds: int = 4, purchases: int = 50) -> UserHistory:
        """The newest ``seeds`` views, favorites and carts and ``purchases`` purchases of a user.

        One pipeline of four LRANGEs. Purchases are read so that callers can exclude them.
        A list with duplicates (written upstream) may yield fewer than ``seeds`` distinct items.
        ValueError for an invalid user id; HistoryUnavailable when Redis fails or is slow.
        """
        if seeds < 0 or purchases < 0:
            raise ValueError(f"seeds ({seeds}) and purchases ({purchases}) must be >= 0")
        wanted = {i: seeds for i in SEED_INTERACTIONS} | {Interaction.PURCHASE: purchases}
        keys = {i: history_key(self.prefix, user_id, i) for i in wanted if wanted[i] > 0}
        pipe = self._client.pipeline(transaction=False)
        for interaction, key in keys.items():
            pipe.lrange(key, 0, wanted[interaction] - 1)
        pipe.get(hidden_keys(self.prefix)[1])
        *replies, version = await self._bounded("read", pipe.execute(raise_on_error=False))
        lists = {
            i: self._distinct(key, reply)
            for (i, key), reply in zip(keys.items(), replies, strict=True)
        }
        return UserHistory(
            views=lists.get(Interaction.VIEW, []),
            favorites=lists.get(Interaction.FAVORITE, []),
            carts=lists.get(Interaction.CART, []),
            purchases=lists.get(Interaction.PURCHASE, []),
            hidden_version=_counter(version),
        )

    async def hidden(self) -> frozenset[str]:
        """The hidden items (one SMEMBERS; a key of another type reads as none, with a warning)."""
        key = hidden_keys(self.prefix)[0]
        pipe = self._client.pipeline(transaction=False)
        pipe.smembers(key)
        (reply,) = await self._bounded("hidden", pipe.execute(raise_on_error=False))
        if isinstance(reply, ResponseError):
            log.warning("hidden-items key %s holds a non-set value; read as empty", key)
            return frozenset()
        return frozenset(self._distinct(key, list(reply)))

    async def hidden_version(self) -> int:
        """The hidden-items counter alone (the background refresh's read)."""
        pipe = self._client.pipeline(transaction=False)
        pipe.get(hidden_keys(self.prefix)[1])
        (reply,) = await self._bounded("hidden", pipe.execute(raise_on_error=False))
        return _counter(reply)

    async def change_hidden(self, hide: Sequence[str], show: Sequence[str]) -> tuple[int, int]:
        """Hide and show items in one transaction that moves the version counter; the number
        of hidden items and the new version. Ids are checked first (ValueError)."""
        for item in (*hide, *show):
            check_id(item, "item id")
        key, version = hidden_keys(self.prefix)
        pipe = self._client.pipeline(transaction=True)
        if hide:
            pipe.sadd(key, *hide)
        if show:
            pipe.srem(key, *show)
        pipe.incr(version)
        pipe.scard(key)
        *_, new_version, count = await self._bounded("hidden", pipe.execute())
        return int(count), int(new_version)

    async def record(self, events: Sequence[Event | tuple[str, str, Interaction]]) -> int:
        """Apply ``(user_id, item_id, interaction[, category_id[, timestamp]])`` events in
        order; the number written.

        Each event is applied atomically by one Lua script that takes up to ``SCRIPT_EVENTS``
        events per run; a batch is one pipeline of such runs. An event lands where its time
        puts it (``RECORD_SCRIPT``): an event without a timestamp is "now" (events of one call
        a microsecond apart, in order), and a timestamp ahead of now counts as now. Every id is
        checked before any key is built, so an invalid id anywhere refuses the whole batch
        (ValueError) and nothing is written. Replaying a batch, or its tail, leaves the same
        lists, so retrying after HistoryUnavailable is safe. Events whose keys hold another
        type (written upstream) are skipped, logged and not counted.
        """
        now = time.time()
        writes = []
        for n, event in enumerate(events):
            user, item, interaction, category, at = Event(*event)
            arrival = now + n * 1e-6
            writes.append(
                Write(
                    history_key(self.prefix, user, interaction),
                    times_key(self.prefix, user, interaction),
                    check_id(item, "item id"),
                    "" if category is None else check_id(category, "category id"),
                    repr(arrival if at is None else min(at, now)),
                )
            )
        runs = [writes[i : i + SCRIPT_EVENTS] for i in range(0, len(writes), SCRIPT_EVENTS)]
        if not runs:
            return 0
        replies = await self._bounded("record", self._run_script(runs, RECORD_SHA))
        first_missing = next(
            (n for n, r in enumerate(replies) if isinstance(r, NoScriptError)), None
        )
        if first_missing is not None:
            # The script cache was emptied (a restart or SCRIPT FLUSH): EVAL loads it again.
            rest = await self._bounded("record", self._run_script(runs[first_missing:], None))
            replies = replies[:first_missing] + rest
        written = 0
        for run, reply in zip(runs, replies, strict=True):
            if isinstance(reply, ResponseError):
                raise HistoryUnavailable(
                    f"{self._where} refused a history write after {written} of {len(writes)} "
                    f"events: {reply}"
                )
            skipped, categories_skipped = reply
            for position in skipped:
                key = run[int(position) - 1].list_key
                log.warning("history key %s holds a non-list value; event skipped", key)
            if categories_skipped:
                log.warning(
                    "item-category key %s holds a non-hash value; %d categories not written",
                    item_category_key(self.prefix),
                    categories_skipped,
                )
            written += len(run) - len(skipped)
        return written

    async def categories(self, items: Sequence[str]) -> dict[str, str]:
        """The category of each of ``items`` that the item-category hash knows (one HMGET).

        Tolerant like ``read``: values that are not UTF-8 are skipped, and a key holding
        something other than a hash reads as empty with a warning. HistoryUnavailable when
        Redis fails or is slow.
        """
        if not items:
            return {}
        key = item_category_key(self.prefix)
        pipe = self._client.pipeline(transaction=False)
        pipe.hmget(key, list(items))
        (reply,) = await self._bounded("categories", pipe.execute(raise_on_error=False))
        if isinstance(reply, ResponseError):
            if str(reply).startswith("WRONGTYPE"):
                log.warning("item-category key %s holds a non-hash value; read as empty", key)
                return {}
            raise HistoryUnavailable(f"{self._where} refused an item-category read: {reply}")
        found = {}
        for item, raw in zip(items, reply if isinstance(reply, list) else [], strict=False):
            try:
                category = raw.decode("utf-8") if raw else ""
            except UnicodeDecodeError:
                continue
            if category:
                found[item] = category
        return found

    async def ping(self) -> bool:
        """Whether Redis answers within the timeout (False, never an exception, otherwise)."""
        try:
            return bool(await self._bounded("ping", self._client.ping()))
        except HistoryUnavailable:
            return False

    async def close(self) -> None:
        """Close the client and, when it owns one (``from_url``), its connection pool."""
        await self._client.aclose()

    def _run_script(self, runs: list[list[Write]], sha: str | None) -> Awaitable[list[Any]]:
        """One pipeline with a script run per list of writes: by ``sha``, or by source if None."""
        pipe = self._client.pipeline(transaction=False)
        hash_key = item_category_key(self.prefix)
        for run in runs:
            keys = [key for w in run for key in (w.list_key, w.times_key)]
            args = [arg for w in run for arg in (w.item, w.category, w.at)]
            every: list[str | int] = [*keys, hash_key, *args, self.length, self.ttl_seconds]
            if sha is None:
                pipe.eval(RECORD_SCRIPT, len(keys) + 1, *every)
            else:
                pipe.evalsha(sha, len(keys) + 1, *every)
        return pipe.execute(raise_on_error=False)

    def _distinct(self, key: str, reply: object) -> list[str]:
        """A reply's item ids in order without repeats or undecodable values."""
        if isinstance(reply, ResponseError):
            if str(reply).startswith("WRONGTYPE"):
                log.warning("history key %s holds a non-list value; read as empty", key)
                return []
            raise HistoryUnavailable(f"{self._where} refused a history read: {reply}")
        items: dict[str, None] = {}
        for raw in reply if isinstance(reply, list) else []:
            try:
                item = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if item:
                items.setdefault(item, None)
        return list(items)

    async def _bounded(self, operation: str, awaitable: Awaitable[T]) -> T:
        """``awaitable``'s result within the timeout; every failure becomes HistoryUnavailable.

        ``asyncio.timeout`` rather than ``wait_for``: no extra task per call on the hot path.
        """
        try:
            async with asyncio.timeout(self.timeout_seconds):
                result = await awaitable
            metrics.REDIS_UP.set(1)
            return result
        except (TimeoutError, RedisTimeoutError) as e:
            metrics.REDIS_UP.set(0)
            raise HistoryUnavailable(
                f"{self._where} did not answer a history {operation} within "
                f"{self.timeout_seconds * 1000:g} ms (slow or stalled)"
            ) from e
        except RedisConnectionError as e:
            metrics.REDIS_UP.set(0)
            raise HistoryUnavailable(
                f"{self._where} is unreachable for a history {operation}: {e}"
            ) from e
        except RedisError as e:
            raise HistoryUnavailable(f"{self._where} refused a history {operation}: {e}") from e


def _counter(reply: object) -> int:
    """A counter's value; 0 when absent or not a number (written upstream)."""
    try:
        return int(reply) if isinstance(reply, bytes | str | int) else 0
    except ValueError:
        return 0
