"""Hidden items (out of stock, delisted): never returned by any route, without retraining.

The set lives in Redis (``contracts.redis_keys.hidden_keys``) beside a version counter that
every writer moves. A worker keeps the set it last read: a candidates request reads the counter
with the user's history (the same round trip) and the set only when the counter moved, and a
background refresh every ``REFRESH_SECONDS`` keeps it fresh for the neighbour routes, which
read no Redis. Filtering is a boolean mask over the served model's item rows, built once per
(model version, set version), so a request pays one array lookup per neighbour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import numpy as np

from service import tracing
from service.history import HistoryStore, HistoryUnavailable
from service.model import Model

log = logging.getLogger("service.hidden")
REFRESH_SECONDS = 5.0


class HiddenItems:
    """This worker's copy of the hidden set, and its mask over each model's item rows."""

    def __init__(self) -> None:
        self.version = -1  # nothing read yet: the first counter read loads the set
        self.ids: frozenset[str] = frozenset()
        self._mask: tuple[str, np.ndarray] | None = None  # (model version, mask)

    async def update(self, store: HistoryStore, version: int | None) -> None:
        """Read the set again if ``version`` (the counter just read) differs from ours; None
        (a history read that could not carry the counter: a cluster) changes nothing."""
        if version is not None and version != self.version:
            with tracing.span("history.hidden"):
                self.ids = await store.hidden()
            self.version = version
            self._mask = None
            log.info("hidden items", extra={"count": len(self.ids), "version": version})

    def mask(self, model: Model) -> np.ndarray | None:
        """True for the model's hidden item rows; None when nothing is hidden."""
        if not self.ids:
            return None
        if self._mask is None or self._mask[0] != model.version:
            mask = np.zeros(model.n_items, dtype=bool)
            rows = model.rows_of(list(self.ids))
            mask[rows[rows >= 0]] = True
            self._mask = (model.version, mask)
        return self._mask[1]

    async def keep_fresh(self, store: HistoryStore) -> None:
        """Read the counter every ``REFRESH_SECONDS`` (and the set when it moved), forever."""
        while True:
            with contextlib.suppress(HistoryUnavailable):
                await self.update(store, await store.hidden_version())
            await asyncio.sleep(REFRESH_SECONDS)
