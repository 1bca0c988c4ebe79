"""Redis memory per user: histories written through the service's own store, measured by Redis.

    python bench/redis_memory.py [--users 20000] [--views 50] [--carts 10] [--purchases 5]

Starts its own redis-server (demo.redis.EmbeddedRedis), writes each user's full history with
``HistoryStore.record`` (the lists and their times hashes, as POST /v1/events does; item ids
like the synthetic generator's, ``i0012345``), in both key formats, and prints ``used_memory``
per user. The sizing section of docs/operations.md uses it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # demo, from the checkout

from contracts.interactions import Interaction
from demo.redis import EmbeddedRedis
from service.history import Event, HistoryStore

BATCH = 1000


async def fill(url: str, args: argparse.Namespace, key_format: str) -> None:
    store = HistoryStore.from_url(
        url,
        timeout_seconds=10.0,
        key_format=key_format,
        length=max(args.views, 50),  # type: ignore[arg-type]
    )
    rng = np.random.default_rng(7)
    plan = [(Interaction.VIEW, args.views), (Interaction.CART, args.carts),
            (Interaction.PURCHASE, args.purchases)]  # fmt: skip
    events: list[Event] = []
    try:
        for user in range(args.users):
            for interaction, count in plan:
                items = rng.integers(0, 10_000_000, count)
                events += [Event(f"u{user:08d}", f"i{i:07d}", interaction, None, 1.7e9 + n)
                           for n, i in enumerate(items)]  # fmt: skip
            if len(events) >= BATCH:
                await store.record(events)
                events = []
        await store.record(events)
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--views", type=int, default=50)
    parser.add_argument("--carts", type=int, default=10)
    parser.add_argument("--purchases", type=int, default=5)
    args = parser.parse_args()
    for key_format in ("v1", "v2"):
        with tempfile.TemporaryDirectory() as folder:
            server = EmbeddedRedis(Path(folder)).start()
            try:
                client = redis.Redis.from_url(server.url)
                before = int(client.info("memory")["used_memory"])
                asyncio.run(fill(server.url, args, key_format))
                after = int(client.info("memory")["used_memory"])
                keys = client.dbsize()
                client.close()
            finally:
                server.stop()
        per_user = (after - before) / args.users
        print(f"{key_format}: {args.users:,} users ({args.views} views, {args.carts} carts, "
              f"{args.purchases} purchases each; {keys:,} keys): {per_user:,.0f} bytes a user, "
              f"{per_user * 1e6 / 1e9:,.1f} GB per million users")  # fmt: skip


if __name__ == "__main__":
    main()
