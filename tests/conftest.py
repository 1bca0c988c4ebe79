"""Shared fixtures: small real event logs written to disk and read by the real loader."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from trainer.config import DataConfig
from trainer.events import EventLog, load_events

Row = Sequence[object]
CANONICAL = ("user_id", "item_id", "interaction", "timestamp", "category_id")


@pytest.fixture
def make_log(tmp_path: Path) -> Callable[..., EventLog]:
    """Write rows (canonical columns unless ``header`` says otherwise) to CSV and load them."""
    counter = iter(range(1_000_000))

    def make(rows: Sequence[Row], header: Sequence[str] = CANONICAL, **data: object) -> EventLog:
        path = tmp_path / f"events-{next(counter)}.csv"
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
        return load_events(path, DataConfig.model_validate(data), progress=False)

    return make
