"""User histories in Redis: what the service reads seeds from and what POST /v1/events writes.

The key format and list semantics are the public contract in ``contracts.redis_keys``: per user
and interaction, a list of item ids, newest first, distinct, trimmed to ``length``, expiring
``ttl_seconds`` after the last write. Beside them, one hash maps item ids to category ids: an
event that names its item's category writes it, in the same atomic step as the history, and the
service reads it for history items its model does not know (cold items). Every operation is one
network round trip (a pipeline or a script run; a script takes a second one only right after
Redis lost its script cache), bounded by a timeout: a slow Redis must cost the request a few
milliseconds and a degraded answer, never a stalled worker. Failures surface as
``HistoryUnavailable``, which callers turn into the popular-items fallback.

Upstream systems may write the keys directly, so reading is tolerant: duplicates are dropped
(first, i.e. newest, occurrence kept), values that are not UTF-8 are skipped, and a key holding
something other than a list (a hash for the categories) reads as empty (and is left alone by
writes) with a warning logged.

Over 400 lines, kept whole: every operation of the store shares its key layout (v1 or v2),
its bounded round trip and its tolerance of upstream writes; reads and writes split apart would
each need all three.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from redis.crc import key_slot
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)
from redis.exceptions import (
    NoScriptError,
    RedisClusterException,
    RedisError,
    ResponseError,
)
from redis.exceptions import (
    TimeoutError as RedisTimeoutError,
)

from contracts.interactions import Interaction
from contracts.redis_keys import DEFAULT_PREFIX, KeyFormat, KeyLayout, check_id
from service import metrics, redis_client
from service.read_script import READ_SCRIPT, READ_SHA
from service.record_script import RECORD_SCRIPT, RECORD_SHA
from service.redis_client import Client

log = logging.getLogger(__name__)
T = TypeVar("T")

# Events per script run. Redis serves nobody else while a script runs, so a run stays near a
# millisecond (~13 µs an event on Redis 6.2); a run per event would instead spend most of a
# batch's time on per-command overhead (a 1000-event batch: ~120 ms instead of ~20 ms).
SCRIPT_EVENTS = 100

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
    # The hidden-items counter, read in the same round trip; None with the cluster format,
    # where it lives on another node (the background refresh reads it, service/hidden.py).
    hidden_version: int | None = 0

    def is_empty(self) -> bool:
        """True for a user with no history at all (a cold start)."""
        return not (self.views or self.favorites or self.carts or self.purchases)


class HistoryStore:
    """Reads and writes user histories; every operation is one round trip within ``timeout``
    (one per node holding its keys, with a cluster).

    ``client`` (one node or a cluster, ``service/redis_client.py``) must return raw bytes
    (``decode_responses=False``) so that values which are not UTF-8 can be skipped instead of
    failing the whole read. ``key_format`` is the key layout (``contracts/redis_keys.py``):
    ``v2``, one user's keys in one hash slot, is required with a cluster.
    """

    def __init__(
        self,
        client: Client,
        prefix: str = DEFAULT_PREFIX,
        length: int = 50,
        ttl_seconds: int = 30 * 86400,
        timeout_seconds: float = 0.05,
        key_format: KeyFormat | None = None,
    ) -> None:
        if redis_client.decodes(client):
            raise ValueError("HistoryStore needs a client with decode_responses=False")
        if length < 1 or ttl_seconds < 1 or timeout_seconds <= 0:
            raise ValueError(
                f"length ({length}), ttl_seconds ({ttl_seconds}) and timeout_seconds "
                f"({timeout_seconds}) must be positive"
            )
        self.cluster = isinstance(client, redis_client.RedisCluster)
        key_format = key_format or ("v2" if self.cluster else "v1")
        if self.cluster and key_format != "v2":
            raise ValueError("a Redis Cluster needs the v2 key format (one user in one slot)")
        self._client = client
        self.keys = KeyLayout(prefix, key_format)
        self.prefix = prefix
        self.length = length
        self.ttl_seconds = ttl_seconds
        self.timeout_seconds = timeout_seconds
        self._where = redis_client.where(client)

    @classmethod
    def from_url(
        cls,
        url: str,
        timeout_seconds: float = 0.05,
        max_connections: int = 64,
        cluster: bool = False,
        **kw: Any,
    ) -> HistoryStore:
        """A store on bounded connections (``redis_client.connect``): each operation costs at
        most one timeout, a connection Redis closed is retried once at once, and at most
        ``max_connections`` sockets are opened (per node with a ``cluster``); further callers
        wait for a free one within the same timeout."""
        client = redis_client.connect(url, cluster, timeout_seconds, max_connections)
        return cls(client, timeout_seconds=timeout_seconds, **kw)

    async def open_connections(self, count: int, within_seconds: float = 5.0) -> int:
        """Open and PING up to ``count`` pooled connections at once (at start-up, so that the
        first burst of requests does not spend its timeout connecting); how many answered.
        Never raises: a Redis that is down now is noticed by the requests and ``/readyz``."""
        opened = await redis_client.open_connections(self._client, count, within_seconds)
        metrics.REDIS_UP.set(1 if opened else 0)
        return opened

    async def read(self, user_id: str, seeds: int = 4, purchases: int = 50) -> UserHistory:
        """The newest ``seeds`` views, favorites and carts and ``purchases`` purchases of a user.

        One script run (``READ_SCRIPT``): four LRANGEs and the hidden-items counter. Purchases
        are read so that callers can exclude them.
        A list with duplicates (written upstream) may yield fewer than ``seeds`` distinct items.
        ValueError for an invalid user id; HistoryUnavailable when Redis fails or is slow.
        """
        if seeds < 0 or purchases < 0:
            raise ValueError(f"seeds ({seeds}) and purchases ({purchases}) must be >= 0")
        wanted = {i: seeds for i in SEED_INTERACTIONS} | {Interaction.PURCHASE: purchases}
        keys = {i: self.keys.history(user_id, i) for i in wanted if wanted[i] > 0}
        counter = [] if self.cluster else [self.keys.hidden()[1]]  # one node answers it all
        counts = [wanted[i] for i in keys]
        read = self._script(READ_SCRIPT, READ_SHA, [*keys.values(), *counter], counts)
        replies = list(await self._bounded("read", read))
        version = None if self.cluster else _counter(replies.pop())
        lists = {
            i: self._distinct(key, reply)
            for (i, key), reply in zip(keys.items(), replies, strict=True)
        }
        return UserHistory(
            views=lists.get(Interaction.VIEW, []),
            favorites=lists.get(Interaction.FAVORITE, []),
            carts=lists.get(Interaction.CART, []),
            purchases=lists.get(Interaction.PURCHASE, []),
            hidden_version=version,
        )

    async def hidden(self) -> frozenset[str]:
        """The hidden items (one SMEMBERS; a key of another type reads as none, with a warning)."""
        key = self.keys.hidden()[0]
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
        pipe.get(self.keys.hidden()[1])
        (reply,) = await self._bounded("hidden", pipe.execute(raise_on_error=False))
        return _counter(reply)

    async def change_hidden(self, hide: Sequence[str], show: Sequence[str]) -> tuple[int, int]:
        """Hide and show items in one transaction that moves the version counter; the number
        of hidden items and the new version. Ids are checked first (ValueError)."""
        for item in (*hide, *show):
            check_id(item, "item id")
        key, version = self.keys.hidden()  # one slot in v2: a transaction works on a cluster
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

        With the v2 key format a script run holds the events of one hash slot only (a user's
        keys share one; a user's events keep their order), and categories are written beside
        the runs to their shards, since a cluster refuses a script across slots.
        """
        now = time.time()
        writes = []
        for n, event in enumerate(events):
            user, item, interaction, category, at = Event(*event)
            arrival = now + n * 1e-6
            writes.append(
                Write(
                    self.keys.history(user, interaction),
                    self.keys.times(user, interaction),
                    check_id(item, "item id"),
                    "" if category is None else check_id(category, "category id"),
                    repr(arrival if at is None else min(at, now)),
                )
            )
        runs = self._runs(writes)
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
        for run, reply in zip(runs, replies, strict=False):
            if isinstance(reply, ResponseError):
                raise HistoryUnavailable(
                    f"{self._where} refused a history write after {written} of {len(writes)} "
                    f"events: {reply}"
                )
            skipped, categories_skipped = reply
            for position in skipped:
                key = run[int(position) - 1].list_key
                log.warning("history key %s holds a non-list value; event skipped", key)
            written += len(run) - len(skipped)
            self._warn_categories(categories_skipped)
        self._warn_categories(sum(isinstance(r, ResponseError) for r in replies[len(runs) :]))
        return written

    def _runs(self, writes: list[Write]) -> list[list[Write]]:
        """The script runs of a batch: consecutive chunks (v1), or per hash slot (v2)."""
        if self.keys.format == "v1":
            return [writes[i : i + SCRIPT_EVENTS] for i in range(0, len(writes), SCRIPT_EVENTS)]
        slots: dict[int, list[Write]] = {}
        for write in writes:
            slots.setdefault(key_slot(write.list_key.encode()), []).append(write)
        return [
            group[i : i + SCRIPT_EVENTS]
            for group in slots.values()
            for i in range(0, len(group), SCRIPT_EVENTS)
        ]

    def _warn_categories(self, skipped: int) -> None:
        if skipped:
            log.warning(
                "item-category key (%s) holds a non-hash value; %d categories not written",
                self.keys.item_category("…"),
                skipped,
            )

    async def categories(self, items: Sequence[str]) -> dict[str, str]:
        """The category of each of ``items`` that the item-category hash knows (one HMGET per
        hash: one with v1, one per shard the items fall in with v2).

        Tolerant like ``read``: values that are not UTF-8 are skipped, and a key holding
        something other than a hash reads as empty with a warning. HistoryUnavailable when
        Redis fails or is slow.
        """
        if not items:
            return {}
        groups = self.keys.item_categories(items)
        pipe = self._client.pipeline(transaction=False)
        for key, members in groups.items():
            pipe.hmget(key, members)
        replies = await self._bounded("categories", pipe.execute(raise_on_error=False))
        found = {}
        for (key, members), reply in zip(groups.items(), replies, strict=True):
            if isinstance(reply, ResponseError):
                if str(reply).startswith("WRONGTYPE"):
                    log.warning("item-category key %s holds a non-hash value; read as empty", key)
                    continue
                raise HistoryUnavailable(f"{self._where} refused an item-category read: {reply}")
            for item, raw in zip(members, reply if isinstance(reply, list) else [], strict=False):
                try:
                    category = raw.decode("utf-8") if raw else ""
                except UnicodeDecodeError:
                    continue
                if category:
                    found[item] = category
        return found

    async def ping(self) -> bool:
        """Whether Redis is healthy within the timeout (``redis_client.healthy``: a PING, or a
        cluster's state and every master's PING); False, never an exception, otherwise."""
        try:
            ok = bool(await self._bounded("ping", redis_client.healthy(self._client)))
        except HistoryUnavailable:
            return False
        metrics.REDIS_UP.set(1 if ok else 0)  # a cluster that answers can still be down
        return ok

    async def close(self) -> None:
        """Close the client and, when it owns one (``from_url``), its connection pool."""
        await self._client.aclose()

    async def _script(self, source: str, sha: str, keys: list[str], args: list[int]) -> Any:
        """One run of a script by its ``sha``, or by its ``source`` after Redis lost its
        script cache (a restart or SCRIPT FLUSH)."""
        try:
            return await self._client.execute_command("EVALSHA", sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self._client.execute_command("EVAL", source, len(keys), *keys, *args)

    def _run_script(self, runs: list[list[Write]], sha: str | None) -> Awaitable[list[Any]]:
        """One pipeline with a script run per list of writes, by ``sha`` or by source if None.
        v1: the item-category hash is the script's last key. v2: the categories follow the
        runs as HSETs to their shards (replies after the runs')."""
        pipe = self._client.pipeline(transaction=False)
        v1 = self.keys.format == "v1"
        hash_keys = [self.keys.item_category("")] if v1 else []
        for run in runs:
            keys = [key for w in run for key in (w.list_key, w.times_key)] + hash_keys
            args = [arg for w in run for arg in (w.item, w.category if v1 else "", w.at)]
            every: list[str | int] = [*keys, *args, self.length, self.ttl_seconds]
            if sha is None:
                pipe.eval(RECORD_SCRIPT, len(keys), *every)
            else:
                pipe.evalsha(sha, len(keys), *every)
        if not v1:
            for write in (w for run in runs for w in run if w.category):
                pipe.hset(self.keys.item_category(write.item), write.item, write.category)
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
        except (RedisError, RedisClusterException) as e:  # a cluster without a live node
            raise HistoryUnavailable(f"{self._where} refused a history {operation}: {e}") from e


def _counter(reply: object) -> int:
    """A counter's value; 0 when absent or not a number (written upstream)."""
    try:
        return int(reply) if isinstance(reply, bytes | str | int) else 0
    except ValueError:
        return 0
