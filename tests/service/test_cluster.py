"""The history store on a real local Redis Cluster: three masters with a replica each, created by
``redis-cli --cluster create`` (``demo.redis_cluster``). The v2 key format puts a user's keys in
one slot, so each event's script runs where its keys live; a batch of many users is split per
slot; categories go to their shards; a lost master degrades answers until its replica takes
over, and readiness reports the cluster's state, not one node's PING."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.cluster import RedisCluster

from contracts.interactions import Interaction
from contracts.redis_keys import ITEM_CATEGORY_SHARDS, KeyLayout
from demo.redis import RedisUnavailable
from demo.redis_cluster import EmbeddedCluster
from service import metrics
from service.history import Event, HistoryStore
from service.model import Model
from service.settings import Settings

from app_fixtures import items_with, make_client

V2 = KeyLayout("ic", "v2")


def start_cluster(folder: Path) -> EmbeddedCluster:
    try:
        return EmbeddedCluster(folder).start()
    except RedisUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCluster]:
    running = start_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def raw(cluster: EmbeddedCluster) -> Iterator[RedisCluster]:
    """A plain cluster client on an emptied cluster: plays upstream and inspects."""
    client = RedisCluster.from_url(cluster.url, socket_timeout=2)
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    try:
        yield client
    finally:
        client.close()


def run(cluster: EmbeddedCluster, scenario, **kw):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        store = HistoryStore.from_url(cluster.url, timeout_seconds=2.0, cluster=True, **kw)
        try:
            return await scenario(store)
        finally:
            await store.close()

    return asyncio.run(main())


def test_a_batch_of_many_users_lands_in_every_slot_with_its_categories(cluster, raw):
    users = [f"user-{n}" for n in range(60)]  # spread over the three masters
    events = [
        Event(u, f"item-{n}-{k}", Interaction.VIEW, f"c{k}", 1_700_000_000 + k)
        for n, u in enumerate(users)
        for k in range(3)
    ] + [Event(u, "cart-item", Interaction.CART) for u in users]

    async def scenario(store: HistoryStore):  # type: ignore[no-untyped-def]
        written = await store.record(events)
        return written, await store.read("user-7"), await store.categories(["item-7-1", "x"])

    written, history, categories = run(cluster, scenario)
    assert written == len(events)
    assert history.views == ["item-7-2", "item-7-1", "item-7-0"] and history.carts == ["cart-item"]
    assert history.hidden_version is None  # on another node: the background refresh reads it
    assert categories == {"item-7-1": "c1"}
    slots = {raw.keyslot(V2.history(u, Interaction.VIEW)) for u in users}
    owners = {raw.get_node_from_key(V2.history(u, Interaction.VIEW)).port for u in users}
    assert len(slots) == len(users) and len(owners) == 3
    assert raw.lrange("ic:u:{user-7}:view", 0, -1) == [b"item-7-2", b"item-7-1", b"item-7-0"]
    assert raw.hget(V2.item_category("item-7-1"), "item-7-1") == b"c1"
    assert not raw.exists("ic:item_category")  # no single global hash
    shards = {V2.item_category(f"item-{n}-{k}") for n in range(60) for k in range(3)}
    assert 100 < len(shards) <= ITEM_CATEGORY_SHARDS


def test_a_late_event_and_a_replay_behave_as_on_one_node(cluster, raw):
    async def scenario(store: HistoryStore):  # type: ignore[no-untyped-def]
        await store.record([Event("u", "new", Interaction.VIEW, None, 2_000)])
        await store.record([Event("u", "old", Interaction.VIEW, None, 1_000)])
        await store.record([Event("u", "old", Interaction.VIEW, None, 1_000)])  # a replay
        return await store.read("u")

    assert run(cluster, scenario).views == ["new", "old"]
    assert raw.hgetall("ic:u:{u}:view:at") == {b"new": b"2000", b"old": b"1000"}


def test_hiding_items_is_one_transaction_in_the_hidden_slot(cluster, raw):
    async def scenario(store: HistoryStore):  # type: ignore[no-untyped-def]
        first = await store.change_hidden(["a", "b"], [])
        second = await store.change_hidden([], ["a"])
        return first, second, await store.hidden(), await store.hidden_version()

    first, second, hidden, version = run(cluster, scenario)
    assert first == (2, 1) and second == (1, 2) and hidden == {"b"} and version == 2
    assert raw.smembers("ic:{hidden}") == {b"b"} and raw.get("ic:{hidden}:version") == b"2"


def test_the_v1_format_is_refused_on_a_cluster(cluster):
    with pytest.raises(ValueError, match="v2 key format"):
        run(cluster, lambda store: asyncio.sleep(0), key_format="v1")
    with pytest.raises(ValueError, match="redis_key_format v1 cannot be used"):
        Settings(redis_cluster=True, redis_key_format="v1")


def test_the_service_answers_from_a_cluster(cluster, raw, artifacts_dir, model: Model):
    viewed = items_with(model, Interaction.VIEW)[:2]
    events = [{"user_id": "alice", "item_id": i, "interaction": "view"} for i in viewed]
    with make_client(artifacts_dir, cluster.url, redis_cluster=True) as client:
        assert client.post("/v1/events", json={"events": events}).status_code == 202
        answer = client.get("/v1/users/alice/candidates?k=5").json()
        ready = client.get("/readyz")
    viewed_module = next(m for m in answer["modules"] if m["name"] == "viewed")
    assert viewed_module["seeds"] == viewed[::-1] and viewed_module["candidates"]
    assert answer["degraded"] is False
    assert ready.status_code == 200 and ready.json()["redis"] is True
    assert raw.lrange("ic:u:{alice}:view", 0, -1) == [i.encode() for i in viewed[::-1]]


def test_a_lost_master_degrades_answers_until_its_replica_takes_over(
    tmp_path, artifacts_dir, model: Model
):
    own = start_cluster(tmp_path / "cluster")  # this test breaks its cluster
    try:
        viewed = items_with(model, Interaction.VIEW)[0]
        users = [f"u{n}" for n in range(30)]
        settings = {"redis_cluster": True, "redis_timeout_ms": 300}
        with make_client(artifacts_dir, own.url, **settings) as client:
            events = [{"user_id": u, "item_id": viewed, "interaction": "view"} for u in users]
            assert client.post("/v1/events", json={"events": events}).status_code == 202
            lost = own.kill_master()
            during = [client.get(f"/v1/users/{u}/candidates?k=3") for u in users]
            ready = client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["redis"] is False
            assert metrics.REDIS_UP._value.get() == 0
            own.wait_healthy()
            after = [client.get(f"/v1/users/{u}/candidates?k=3") for u in users]
            assert client.get("/readyz").json()["redis"] is True
            own.restart(lost)  # back as a replica; nothing is lost by serving on
            own.wait_healthy()
            assert client.post("/v1/events", json=events[:1]).status_code == 202
    finally:
        own.stop()
    assert all(r.status_code == 200 for r in during + after)
    assert any(r.json()["degraded"] for r in during)  # the lost master's users
    assert not any(r.json()["degraded"] for r in after)
    assert all(viewed in _seeds(r.json()) for r in after)


def _seeds(answer: dict) -> list[str]:
    return [s for m in answer["modules"] for s in m["seeds"]]


def test_readiness_reports_a_cluster_that_lost_a_slot_range(tmp_path):
    """A master and its replica gone: the other nodes still answer PING, but a slot range has
    no one, the cluster is down, and the store's health (readiness, the metric) says so."""
    own = start_cluster(tmp_path / "cluster")
    try:

        async def healthy(store: HistoryStore) -> bool:
            return await store.ping()

        assert run(own, healthy) is True
        own.kill_shard()
        own.wait_until(lambda: not own.state_ok(), 10, "the cluster to notice")
        assert run(own, healthy) is False
        assert metrics.REDIS_UP._value.get() == 0  # answered, and still reported down
    finally:
        own.stop()
