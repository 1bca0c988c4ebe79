"""The async client against the real service: the same calls and errors as the sync one."""

from __future__ import annotations

import asyncio

import pytest

from client import AsyncCandidatesClient, Event, InvalidRequest, NotFound, Unauthorized


def test_events_then_candidates_by_get_and_by_post(async_api):
    async def scenario() -> None:
        async with async_api as api:
            cold = await api.candidates("nobody", k=6)
            assert cold.fallback == "popular"
            items = cold.modules[0].item_ids
            events = [Event(user_id="ivy", item_id=i, interaction="view", timestamp=1e9 + n)
                      for n, i in enumerate(items[:3])]  # fmt: skip
            assert (await api.post_events(events)).accepted == 3
            by_get = await api.candidates("ivy", k=5)
            viewed = by_get.module("viewed")
            assert viewed is not None and viewed.seeds == items[:3][::-1]
            excluded = viewed.item_ids[:2] + [f"gone-{n}" for n in range(1500)]
            by_post = (await api.candidates("ivy", k=5, exclude=excluded)).module("viewed")
            assert by_post is not None and len(by_post.item_ids) == 5
            assert not set(by_post.item_ids) & set(excluded)

    asyncio.run(scenario())


def test_neighbors_health_and_concurrent_calls(async_api):
    async def scenario() -> None:
        async with async_api as api:
            item = (await api.candidates("nobody", k=1)).modules[0].item_ids[0]
            answers = await asyncio.gather(
                *(api.item_neighbors(item, target="view", k=3) for _ in range(5))
            )
            assert len({tuple(n.score for n in a.neighbors) for a in answers}) == 1
            assert (await api.health()).status == "ok" and (await api.ready()).ready

    asyncio.run(scenario())


def test_errors_are_the_same_exceptions(service, async_api):
    async def scenario() -> None:
        async with async_api as api:
            with pytest.raises(InvalidRequest) as raised:
                await api.candidates("jo", k_viewed=0)
            assert [p.loc for p in raised.value.problems] == [("query", "k_viewed")]
            with pytest.raises(NotFound):
                await api.item_neighbors("no-such-item")
        async with AsyncCandidatesClient(service.url) as anonymous:
            with pytest.raises(Unauthorized):
                await anonymous.candidates("jo")

    asyncio.run(scenario())
