"""What stalls a worker, measured all the time: garbage-collector pauses and event-loop lag.

A request's latency has a tail that its own work does not explain: the cyclic garbage collector
stops the process (every thread: it holds the GIL) for as long as a collection takes, and the
event loop runs nothing while one callback blocks it or while the process waits for a CPU. Two
instruments name these causes (docs/benchmarks.md "Latency spread" attributes every spike with
them, bench/serve_spread.py):

* ``GcPauses``, a ``gc.callbacks`` hook: each collection's duration into
  ``ic_gc_pause_seconds{generation}`` (two clock reads and one histogram observation per
  collection; a collection of the young generation happens every few hundred requests).
* ``watch_loop_lag``, a task that sleeps ``LAG_INTERVAL`` and records how late it wakes into
  ``ic_event_loop_lag_seconds``, and the largest lateness of the last one to two minutes into
  ``ic_event_loop_lag_max_seconds`` (one series per worker). Lateness is anything that kept the
  loop from running its timers: a blocking call, a GC pause on the loop's thread, the GIL held
  by another thread (a model load), or no CPU for the process (contention).

And the garbage collector's settings (``GC_FREEZE``, ``GC_THRESHOLD0``): ``gc.freeze()`` after
start-up and after every model load moves every object alive then (imports, the app, the
model's Python objects) out of reach of later collections, so a full collection walks only what
was allocated since instead of every object of the process. A frozen object is still freed when
its last reference goes (a replaced model, by refcount once its last request ends); only a
frozen reference cycle would never be collected (tests/service/test_runtime_monitor.py checks
that a model leaves none).
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from prometheus_client import Gauge, Histogram

from service import metrics

LAG_INTERVAL = 0.05
"""Seconds the lag monitor sleeps between wake-ups (20 observations a second)."""
LAG_WINDOW = 60.0
"""The max gauge shows the largest lag of the current and the previous window of this length."""


class GcPauses:
    """A ``gc.callbacks`` hook timing each collection by generation (process-wide: install one)."""

    def __init__(self, histogram: Histogram = metrics.GC_PAUSE_SECONDS) -> None:
        self._by_generation = [histogram.labels(str(g)) for g in range(3)]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        # Collections never overlap (the collector holds the GIL), so one start time suffices.
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._by_generation[info["generation"]].observe(time.perf_counter() - self._started)

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)


class LoopLag:
    """How late each wake-up of the monitor was: a histogram, and a windowed max gauge."""

    def __init__(
        self,
        histogram: Histogram = metrics.LOOP_LAG_SECONDS,
        largest: Gauge = metrics.LOOP_LAG_MAX,
        window: float = LAG_WINDOW,
    ) -> None:
        self.histogram, self.largest, self.window = histogram, largest, window
        self._current = self._previous = 0.0
        self._window_started = time.perf_counter()
        self._shown = -1.0

    def record(self, lag: float, now: float) -> None:
        self.histogram.observe(lag)
        if now - self._window_started >= self.window:
            self._previous, self._current, self._window_started = self._current, 0.0, now
        self._current = max(self._current, lag)
        shown = max(self._current, self._previous)
        if shown != self._shown:  # a gauge write only when the value changes
            self._shown = shown
            self.largest.set(shown)


async def watch_loop_lag(interval: float = LAG_INTERVAL, lag: LoopLag | None = None) -> None:
    """Sleep ``interval`` seconds, again and again, recording how late each wake-up is; runs
    until cancelled (the app's lifespan starts and cancels it)."""
    lag = lag or LoopLag()
    while True:
        before = time.perf_counter()
        await asyncio.sleep(interval)
        now = time.perf_counter()
        lag.record(max(0.0, now - before - interval), now)


class GarbageCollector:
    """The worker's collector settings, applied at start-up and undone at shutdown."""

    def __init__(self, freeze: bool, threshold0: int | None) -> None:
        self.freeze_enabled, self.threshold0 = freeze, threshold0
        self._saved: tuple[int, int, int] | None = None

    def start(self) -> None:
        if self.threshold0 is not None and self._saved is None:
            self._saved = gc.get_threshold()
            gc.set_threshold(self.threshold0, *self._saved[1:])
        self.freeze()

    def freeze(self) -> None:
        """Leave every object alive now out of later collections (after start-up and after each
        model load: service/registry.py); constant time, no collection."""
        if self.freeze_enabled:
            gc.freeze()

    def stop(self) -> None:
        if self.freeze_enabled:
            gc.unfreeze()  # frozen objects go back to the oldest generation
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None


GC_PAUSES = GcPauses()
