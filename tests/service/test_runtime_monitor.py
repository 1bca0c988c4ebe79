"""The runtime monitor records what stalled a worker (service/runtime_monitor.py): GC pauses by
generation, event-loop lag, and the collector's settings. These tests check that the instruments
record what happened (a forced collection, a loop blocked on purpose), never how fast it was:
their bounds are generous."""

from __future__ import annotations

import asyncio
import gc
import re
import time

from prometheus_client import CollectorRegistry, Gauge, Histogram

from service import metrics, runtime_monitor
from service.model import load_model
from service.registry import ModelRegistry
from service.runtime_monitor import GarbageCollector, GcPauses, LoopLag


def private_histogram(labels: tuple[str, ...] = ()) -> Histogram:
    return Histogram(
        "t_seconds", "a test's own", labels, buckets=metrics.PAUSES, registry=CollectorRegistry()
    )


def count(histogram: Histogram, *labels: str) -> float:
    child = histogram.labels(*labels) if labels else histogram
    return next(s.value for s in child.collect()[0].samples if s.name.endswith("_count"))


def test_each_collection_is_recorded_under_its_generation():
    histogram = private_histogram(("generation",))
    pauses = GcPauses(histogram)
    pauses.install()
    pauses.install()  # once only
    try:
        gc.collect(0)
        gc.collect(2)
        gc.collect(2)
    finally:
        pauses.remove()
    assert count(histogram, "0") >= 1 and count(histogram, "2") >= 2
    assert pauses not in gc.callbacks
    recorded = count(histogram, "2")
    gc.collect(2)
    assert count(histogram, "2") == recorded  # nothing recorded once removed


def test_a_blocked_loop_shows_as_lag_in_the_histogram_and_the_max_gauge():
    histogram = private_histogram()
    largest = Gauge("t_max_seconds", "a test's own", registry=CollectorRegistry())
    lag = LoopLag(histogram, largest)

    async def scenario() -> None:
        watcher = asyncio.create_task(runtime_monitor.watch_loop_lag(0.01, lag))
        await asyncio.sleep(0.05)
        time.sleep(0.3)  # blocks the loop: the watcher's timer cannot fire
        await asyncio.sleep(0.05)
        watcher.cancel()

    asyncio.run(scenario())
    samples = {(s.name, s.labels.get("le")): s.value for s in histogram.collect()[0].samples}
    total = samples[("t_seconds_count", None)]
    assert total >= 3
    assert total - samples[("t_seconds_bucket", "0.1")] >= 1  # the blocked wake-up: > 100 ms
    assert largest.collect()[0].samples[0].value >= 0.1


def test_the_max_gauge_covers_the_current_and_the_previous_window():
    largest = Gauge("t_max_seconds", "a test's own", registry=CollectorRegistry())
    lag = LoopLag(private_histogram(), largest, window=60.0)
    start = time.perf_counter()

    def shown() -> float:
        return largest.collect()[0].samples[0].value

    lag.record(0.2, start + 1)
    lag.record(0.001, start + 61)  # a new window: the previous one's 0.2 is still shown
    assert shown() == 0.2
    lag.record(0.003, start + 122)  # the window of 0.2 is two windows back
    assert shown() == 0.003


def test_the_collector_settings_apply_at_start_and_are_undone_at_stop():
    saved = gc.get_threshold()
    collector = GarbageCollector(freeze=True, threshold0=12_345)
    try:
        collector.start()
        assert gc.get_threshold() == (12_345, *saved[1:])
        assert gc.get_freeze_count() > 0
    finally:
        collector.stop()
    assert gc.get_threshold() == saved and gc.get_freeze_count() == 0
    GarbageCollector(freeze=False, threshold0=None).start()  # neither: nothing changes
    assert gc.get_threshold() == saved and gc.get_freeze_count() == 0


def test_a_released_model_leaves_no_reference_cycle_a_freeze_would_keep(trained):
    """gc.freeze() after a load keeps the replaced model's cycles forever: a model must have
    none, so that refcounting alone frees it when its last request ends."""
    model = load_model(trained.root, trained.version)
    gc.collect()  # the load's own temporaries
    del model
    assert gc.collect() == 0


def test_the_registry_calls_after_load_when_a_version_loads_only(trained, artifacts_dir):
    loads: list[str] = []
    registry = ModelRegistry(artifacts_dir, after_load=lambda: loads.append("load"))
    assert registry.reload().result == "loaded"
    assert registry.reload().result == "unchanged"
    assert loads == ["load"]
    trained.publish_another(artifacts_dir)
    assert registry.reload().result == "loaded"
    assert loads == ["load", "load"]


def test_the_app_exports_gc_pauses_and_loop_lag(client):
    def value(text: str, name: str) -> float:
        found = re.findall(rf"^{re.escape(name)} (\S+)$", text, re.M)
        return sum(map(float, found))

    gc.collect(2)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = client.get("/metrics").text
        if value(text, "ic_event_loop_lag_seconds_count") >= 2:
            break
        time.sleep(0.05)
    assert value(text, 'ic_gc_pause_seconds_count{generation="2"}') >= 1
    assert value(text, "ic_event_loop_lag_seconds_count") >= 2
    assert "ic_event_loop_lag_max_seconds" in text
