"""User histories in a real Redis: the contract's list semantics, one round trip, and failures.

Each test runs one async scenario on a fresh HistoryStore (``with_store``); ``raw`` is a plain
client standing in for an upstream writer and for inspecting what was stored.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
import redis
import redis.asyncio as aioredis

from contracts.interactions import Interaction
from service.history import SCRIPT_EVENTS, Event, HistoryStore, HistoryUnavailable, UserHistory

VIEW, FAVORITE, CART, PURCHASE = Interaction
Run = Callable[..., Any]
FAST = 0.25  # the failure tests' timeout: detection well under 1 s, yet slack for a busy CI box


def views(user: str, *items: str) -> list[tuple[str, str, Interaction]]:
    """View events of ``user`` on ``items``, oldest first."""
    return [(user, item, VIEW) for item in items]


async def record_then_read(store: HistoryStore, events: list[Any], **read: Any) -> UserHistory:
    await store.record(events)
    return await store.read("u1", **read)


def test_record_then_read_gives_newest_first(with_store: Run) -> None:
    history = with_store(lambda s: record_then_read(s, views("u1", "a", "b", "c")))
    assert history.views == ["c", "b", "a"]


def test_each_interaction_has_its_own_list(with_store: Run) -> None:
    events = [("u1", "v", VIEW), ("u1", "f", FAVORITE), ("u1", "c", CART), ("u1", "p", PURCHASE)]
    history = with_store(lambda s: record_then_read(s, events))
    assert history == UserHistory(views=["v"], favorites=["f"], carts=["c"], purchases=["p"])


def test_record_writes_the_public_key_format(with_store: Run, raw: redis.Redis) -> None:
    with_store(lambda s: s.record([("u1", "a", CART), ("u1", "b", CART)]))
    assert sorted(raw.keys("*")) == [b"ic:u:u1:cart", b"ic:u:u1:cart:at"]
    assert raw.lrange("ic:u:u1:cart", 0, -1) == [b"b", b"a"]
    assert set(raw.hkeys("ic:u:u1:cart:at")) == {b"a", b"b"}


def test_a_prefix_keeps_stores_apart(with_store: Run, raw: redis.Redis) -> None:
    with_store(lambda s: s.record(views("u1", "a")), prefix="staging:ic")
    assert sorted(raw.keys("*")) == [b"staging:ic:u:u1:view", b"staging:ic:u:u1:view:at"]
    assert with_store(lambda s: s.read("u1")).is_empty()


def test_viewing_an_item_again_moves_it_to_the_front(with_store: Run) -> None:
    history = with_store(lambda s: record_then_read(s, views("u1", "a", "b", "c", "a")))
    assert history.views == ["a", "c", "b"]


def test_lists_are_trimmed_to_length(with_store: Run, raw: redis.Redis) -> None:
    with_store(lambda s: s.record(views("u1", *"abcdefgh")), length=5)
    assert raw.lrange("ic:u:u1:view", 0, -1) == [b"h", b"g", b"f", b"e", b"d"]


def test_record_sets_the_ttl(with_store: Run, raw: redis.Redis) -> None:
    with_store(lambda s: s.record(views("u1", "a")), ttl_seconds=1000)
    assert 990 <= raw.ttl("ic:u:u1:view") <= 1000


def test_every_write_refreshes_the_ttl(with_store: Run, raw: redis.Redis) -> None:
    with_store(lambda s: s.record(views("u1", "a")), ttl_seconds=1000)
    raw.expire("ic:u:u1:view", 5)
    with_store(lambda s: s.record(views("u1", "a")), ttl_seconds=1000)
    assert raw.ttl("ic:u:u1:view") >= 990


def test_read_takes_the_newest_seeds(with_store: Run) -> None:
    history = with_store(lambda s: record_then_read(s, views("u1", *"abcdef"), seeds=4))
    assert history.views == ["f", "e", "d", "c"]


def test_read_returns_purchases_for_exclusion(with_store: Run) -> None:
    events = [("u1", item, PURCHASE) for item in "pqrs"] + views("u1", *"abcdef")
    history = with_store(lambda s: record_then_read(s, events, seeds=2, purchases=3))
    assert history.purchases == ["s", "r", "q"]
    assert history.views == ["f", "e"]


def test_zero_seeds_reads_no_seeds(with_store: Run) -> None:
    history = with_store(lambda s: record_then_read(s, views("u1", "a"), seeds=0, purchases=0))
    assert history.is_empty()


def test_a_user_without_history_is_empty(with_store: Run) -> None:
    history = with_store(lambda s: s.read("nobody"))
    assert history.is_empty()
    assert history == UserHistory(views=[], favorites=[], carts=[], purchases=[])


def test_upstream_lists_with_duplicates_and_over_length_are_read_distinct(
    with_store: Run, raw: redis.Redis
) -> None:
    raw.rpush("ic:u:u1:view", "a", "a", "b", "a", "c", *[f"x{i}" for i in range(200)])
    raw.rpush("ic:u:u1:purchase", *[f"p{i % 30}" for i in range(120)])
    history = with_store(lambda s: s.read("u1", seeds=4, purchases=100))
    assert history.views == ["a", "b"]  # the first 4 entries hold 2 distinct items
    assert history.purchases == [f"p{i}" for i in range(30)]


def test_values_that_are_not_utf8_are_skipped(with_store: Run, raw: redis.Redis) -> None:
    raw.rpush("ic:u:u1:cart", "a", b"\xff\xfe", "", "b")
    history = with_store(lambda s: s.read("u1"))
    assert history.carts == ["a", "b"]


def test_a_key_of_another_type_reads_empty_and_is_left_alone(
    with_store: Run, raw: redis.Redis
) -> None:
    raw.set("ic:u:u1:view", "not a list")
    written = with_store(lambda s: s.record([*views("u1", "a"), ("u1", "c", CART)]))
    history = with_store(lambda s: s.read("u1"))
    assert written == 1
    assert history.views == [] and history.carts == ["c"]
    assert raw.get("ic:u:u1:view") == b"not a list"


def test_an_events_category_is_set_in_the_item_category_hash(
    with_store: Run, raw: redis.Redis
) -> None:
    events = [Event("u1", "a", VIEW, "c1"), ("u2", "b", CART), Event("u2", "a", CART, "c2")]
    assert with_store(lambda s: s.record(events)) == 3
    assert raw.hgetall("ic:item_category") == {b"a": b"c2"}  # the newest category wins
    assert raw.lrange("ic:u:u2:cart", 0, -1) == [b"a", b"b"]


def test_categories_are_read_for_the_items_asked_skipping_undecodable_ones(
    with_store: Run, raw: redis.Redis
) -> None:
    raw.hset("ic:item_category", mapping={"a": "c1", "b": b"\xff", "c": "c3", "d": "c4"})
    found = with_store(lambda s: s.categories(["a", "b", "c", "missing"]))
    assert found == {"a": "c1", "c": "c3"}


def test_a_category_key_of_another_type_reads_empty_and_is_left_alone(
    with_store: Run, raw: redis.Redis
) -> None:
    raw.set("ic:item_category", "not a hash")
    assert with_store(lambda s: s.record([Event("u1", "a", VIEW, "c1")])) == 1
    assert with_store(lambda s: s.categories(["a"])) == {}
    assert raw.get("ic:item_category") == b"not a hash"
    assert raw.lrange("ic:u:u1:view", 0, -1) == [b"a"]


def test_an_invalid_category_id_refuses_the_whole_batch(with_store: Run, raw: redis.Redis) -> None:
    events = [*views("u1", "ok"), Event("u1", "a", VIEW, "bad category")]
    with pytest.raises(ValueError, match="invalid category id"):
        with_store(lambda s: s.record(events))
    assert raw.keys("*") == []


@pytest.mark.parametrize("bad", [("bad:user", "a"), ("u1", "bad item"), ("", "a"), ("u1", "")])
def test_an_invalid_id_refuses_the_whole_batch_before_any_write(
    with_store: Run, raw: redis.Redis, bad: tuple[str, str]
) -> None:
    events = [*views("u1", "ok"), (*bad, VIEW)]
    with pytest.raises(ValueError, match=r"invalid (user|item) id"):
        with_store(lambda s: s.record(events))
    assert raw.keys("*") == []


def test_read_refuses_an_invalid_user_id(with_store: Run) -> None:
    with pytest.raises(ValueError, match="invalid user id 'a:b'"):
        with_store(lambda s: s.read("a:b"))


def test_a_batch_of_1000_events_lands_in_order(with_store: Run, raw: redis.Redis) -> None:
    events = [(f"u{n % 10}", f"i{n}", VIEW) for n in range(1000)]
    assert with_store(lambda s: s.record(events)) == 1000
    assert len(raw.keys("*")) == 20  # a list and its times per user
    newest_of_u3 = [f"i{n}".encode() for n in range(993, 493, -10)]
    assert raw.lrange("ic:u:u3:view", 0, -1) == newest_of_u3


def test_replaying_a_batch_changes_nothing(with_store: Run, raw: redis.Redis) -> None:
    events = views("u1", *"abcabdefgha")
    with_store(lambda s: s.record(events), length=5)
    once = raw.lrange("ic:u:u1:view", 0, -1)
    with_store(lambda s: s.record(events[4:]), length=5)
    with_store(lambda s: s.record(events), length=5)
    assert raw.lrange("ic:u:u1:view", 0, -1) == once == [b"a", b"h", b"g", b"f", b"e"]


def timed(user: str, *items_at: tuple[str, float]) -> list[Event]:
    return [Event(user, item, VIEW, None, at) for item, at in items_at]


def test_a_late_event_takes_its_place_in_time_not_the_front(with_store: Run) -> None:
    with_store(lambda s: s.record(timed("u1", ("a", 100), ("b", 300))))
    history = with_store(lambda s: record_then_read(s, timed("u1", ("c", 200))))
    assert history.views == ["b", "c", "a"]


def test_a_late_event_older_than_a_full_list_is_trimmed_with_its_time(
    with_store: Run, raw: redis.Redis
) -> None:
    with_store(lambda s: s.record(timed("u1", ("a", 10), ("b", 20), ("c", 30))), length=3)
    with_store(lambda s: s.record(timed("u1", ("old", 5))), length=3)
    assert raw.lrange("ic:u:u1:view", 0, -1) == [b"c", b"b", b"a"]
    assert set(raw.hkeys("ic:u:u1:view:at")) == {b"a", b"b", b"c"}


def test_an_older_event_for_an_item_already_newer_changes_nothing(with_store: Run) -> None:
    with_store(lambda s: s.record(timed("u1", ("a", 100), ("b", 200))))
    history = with_store(lambda s: record_then_read(s, timed("u1", ("b", 150), ("a", 50))))
    assert history.views == ["b", "a"]


def test_a_timestamp_ahead_of_now_counts_as_now(with_store: Run) -> None:
    with_store(lambda s: s.record(timed("u1", ("future", time.time() + 86400))))
    history = with_store(lambda s: record_then_read(s, views("u1", "now")))
    assert history.views == ["now", "future"]


def test_items_written_upstream_without_times_count_as_older(
    with_store: Run, raw: redis.Redis
) -> None:
    raw.rpush("ic:u:u1:view", "x", "y")
    history = with_store(lambda s: record_then_read(s, timed("u1", ("a", 1.0))))
    assert history.views == ["a", "x", "y"]


def test_replaying_a_timed_batch_changes_nothing(with_store: Run, raw: redis.Redis) -> None:
    events = timed("u1", ("a", 1), ("b", 2), ("a", 3), ("c", 4))
    with_store(lambda s: s.record(events))
    once = raw.lrange("ic:u:u1:view", 0, -1), raw.hgetall("ic:u:u1:view:at")
    with_store(lambda s: s.record(events[1:]))
    with_store(lambda s: s.record(events))
    assert (raw.lrange("ic:u:u1:view", 0, -1), raw.hgetall("ic:u:u1:view:at")) == once
    assert once[0] == [b"c", b"a", b"b"]


def test_concurrent_writers_keep_one_users_list_distinct(with_store: Run) -> None:
    async def scenario(store: HistoryStore) -> UserHistory:
        batches = [views("u1", *(f"i{(w + n) % 20}" for n in range(5))) for w in range(200)]
        await asyncio.gather(*(store.record(batch) for batch in batches))
        return await store.read("u1", seeds=50)

    history = with_store(scenario, max_connections=8)
    assert sorted(history.views) == sorted(f"i{n}" for n in range(20))


def test_record_survives_an_emptied_script_cache(with_store: Run, raw: redis.Redis) -> None:
    raw.script_flush()
    history = with_store(lambda s: record_then_read(s, views("u1", "a", "b")))
    assert history.views == ["b", "a"]


def test_read_survives_an_emptied_script_cache(with_store: Run, raw: redis.Redis) -> None:
    with_store(lambda s: s.record(views("u1", "a", "b")))
    raw.script_flush()
    assert with_store(lambda s: s.read("u1")).views == ["b", "a"]


def test_a_read_only_replica_refusing_writes_raises_history_unavailable(
    with_store: Run, raw: redis.Redis
) -> None:
    raw.replicaof("127.0.0.1", "1")  # as after a failover: a read-only replica
    try:
        with pytest.raises(HistoryUnavailable, match=r"refused a history write"):
            with_store(lambda s: s.record(views("u1", "a")))
    finally:
        raw.replicaof("NO", "ONE")


class CountingConnection(aioredis.Connection):
    """A real connection that counts its writes: one write per round trip."""

    writes: ClassVar[int] = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.writes += 1
        await super().send_packed_command(command, check_health)


def round_trips(
    url: str, raw: redis.Redis, command: str, operation: Callable[[HistoryStore], Any]
) -> tuple[int, int]:
    """Writes to Redis made by ``operation`` on a connected store, and the ``command``s run."""

    async def main() -> tuple[int, int]:
        pool = aioredis.ConnectionPool.from_url(url, connection_class=CountingConnection)
        store = HistoryStore(aioredis.Redis.from_pool(pool), timeout_seconds=5.0)
        try:
            await store.record(views("warm-up", "a"))  # connects and caches the scripts
            await store.read("warm-up")
            CountingConnection.writes = 0
            before = command_calls(raw, command)
            await operation(store)
            return CountingConnection.writes, command_calls(raw, command) - before
        finally:
            await store.close()

    return asyncio.run(main())


def command_calls(raw: redis.Redis, command: str) -> int:
    return int(raw.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


def test_read_is_one_round_trip_of_four_lranges(redis_url: str, raw: redis.Redis) -> None:
    assert round_trips(redis_url, raw, "lrange", lambda s: s.read("u1")) == (1, 4)


def test_categories_are_one_round_trip_of_one_hmget(redis_url: str, raw: redis.Redis) -> None:
    assert round_trips(redis_url, raw, "hmget", lambda s: s.categories(["a", "b"])) == (1, 1)


def test_a_batch_is_one_round_trip(redis_url: str, raw: redis.Redis) -> None:
    events = [(f"u{n % 7}", f"i{n}", CART) for n in range(1000)]
    script_runs = math.ceil(1000 / SCRIPT_EVENTS)
    assert round_trips(redis_url, raw, "evalsha", lambda s: s.record(events)) == (1, script_runs)


def test_ping_is_true_while_redis_answers(with_store: Run) -> None:
    assert with_store(lambda s: s.ping()) is True


def test_a_paused_redis_makes_read_give_up_at_the_timeout(
    with_store: Run, redis_server: Any
) -> None:
    async def scenario(store: HistoryStore) -> None:
        await store.read("u1")
        redis_server.pause()
        with pytest.raises(HistoryUnavailable, match=r"did not answer .* within 250 ms"):
            await store.read("u1")  # the store's own timeout ended the wait, nothing else

    with_store(scenario, timeout_seconds=FAST)


def test_a_paused_redis_makes_ping_false(with_store: Run, redis_server: Any) -> None:
    redis_server.pause()
    assert with_store(lambda s: s.ping(), timeout_seconds=0.05) is False  # the service default


def test_reads_work_again_once_redis_resumes(with_store: Run, redis_server: Any) -> None:
    async def scenario(store: HistoryStore) -> UserHistory:
        await store.record(views("u1", "a"))
        redis_server.pause()
        with pytest.raises(HistoryUnavailable):
            await store.read("u1")
        redis_server.resume()
        return await store.read("u1")

    assert with_store(scenario, timeout_seconds=FAST).views == ["a"]


def test_a_killed_redis_makes_read_fail_as_unreachable(with_store: Run, redis_server: Any) -> None:
    async def scenario(store: HistoryStore) -> None:
        await store.read("u1")
        redis_server.kill()
        with pytest.raises(HistoryUnavailable, match="unreachable"):  # refused, not timed out
            await store.read("u1")
        assert await store.ping() is False

    with_store(scenario, timeout_seconds=FAST)


def test_the_store_recovers_after_a_restart(with_store: Run, redis_server: Any) -> None:
    async def scenario(store: HistoryStore) -> UserHistory:
        await store.record(views("u1", "a"))
        redis_server.kill()
        with pytest.raises(HistoryUnavailable):
            await store.record(views("u1", "b"))
        redis_server.restart()
        assert await store.ping() is True
        await store.record(views("u1", "c"))
        return await store.read("u1")

    assert with_store(scenario).views == ["c"]  # refusal is fast whatever the timeout


def test_the_store_refuses_impossible_settings(redis_url: str) -> None:
    decoding = aioredis.Redis.from_url(redis_url, decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses=False"):
        HistoryStore(decoding)
    with pytest.raises(ValueError, match="must be positive"):
        HistoryStore.from_url(redis_url, length=0)
    with pytest.raises(ValueError, match="invalid Redis key prefix"):
        HistoryStore.from_url(redis_url, prefix="bad prefix")
