"""The demo's users: real histories from the synthetic log, one of them renamed ``demo-user``.

A user is a good demo when the model knows their recent views and carts (both modules then have
seeds with pair vectors), so users are ranked by how many of their last views and carts the
served version has pairs for; the best one's history becomes ``demo-user``'s.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from contracts import artifacts
from contracts.catalog import read_catalog
from contracts.interactions import Interaction

DEMO_USER = "demo-user"
RECENT = 40  # events per user loaded into Redis: enough for 4 distinct views and carts


@dataclass(frozen=True)
class Event:
    user_id: str
    item_id: str
    interaction: str
    timestamp: float

    def payload(self) -> dict[str, object]:
        """The body of one event for ``POST /v1/events``."""
        return {
            "user_id": self.user_id,
            "item_id": self.item_id,
            "interaction": self.interaction,
            "timestamp": self.timestamp,
        }


def known_items(artifacts_dir: Path) -> dict[Interaction, set[str]]:
    """The items that have a pair vector, per interaction, in the version CURRENT names."""
    version = artifacts.read_current(artifacts_dir)
    if version is None:
        raise RuntimeError(f"{artifacts_dir} has no CURRENT version")
    folder = artifacts.version_dir(artifacts_dir, version)
    catalog = read_catalog(folder / artifacts.ITEMS, folder / artifacts.TOKENS)
    table = catalog.item_token()
    return {
        i: {catalog.item_ids[r] for r in range(len(catalog.item_ids)) if table[r, i] >= 0}
        for i in (Interaction.VIEW, Interaction.CART)
    }


def recent_events(events_csv: Path, per_user: int = RECENT) -> dict[str, list[Event]]:
    """Each user's last ``per_user`` events of a canonical CSV log, oldest first."""
    by_user: dict[str, list[Event]] = defaultdict(list)
    with open(events_csv, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            by_user[row["user_id"]].append(
                Event(row["user_id"], row["item_id"], row["interaction"], float(row["timestamp"]))
            )
    return {
        user: sorted(events, key=lambda e: e.timestamp)[-per_user:]
        for user, events in by_user.items()
    }


def _last_distinct(events: list[Event], interaction: Interaction, n: int = 4) -> list[str]:
    items: list[str] = []
    for event in reversed(events):
        if event.interaction == interaction.label and event.item_id not in items:
            items.append(event.item_id)
    return items[:n]


def pick(events_csv: Path, artifacts_dir: Path, count: int = 4) -> dict[str, list[Event]]:
    """``count`` users' recent events, the best demo first and renamed ``demo-user``."""
    known = known_items(artifacts_dir)

    def score(events: list[Event]) -> tuple[int, int]:
        carts = _last_distinct(events, Interaction.CART)
        views = _last_distinct(events, Interaction.VIEW)
        return (
            sum(item in known[Interaction.CART] for item in carts),
            sum(item in known[Interaction.VIEW] for item in views),
        )

    histories = recent_events(events_csv)
    ranked = sorted(histories, key=lambda user: (score(histories[user]), user), reverse=True)
    if not ranked or min(score(histories[ranked[0]])) == 0:
        raise RuntimeError("no user in the log has known recent views and carts")
    chosen = ranked[:count]
    result = {DEMO_USER: [_renamed(e, DEMO_USER) for e in histories[chosen[0]]]}
    result.update({user: histories[user] for user in chosen[1:]})
    return result


def _renamed(event: Event, user_id: str) -> Event:
    return Event(user_id, event.item_id, event.interaction, event.timestamp)
