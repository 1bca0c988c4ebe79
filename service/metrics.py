"""Prometheus metrics: the names dashboards and alert rules (k8s/) depend on.

With several uvicorn workers, ``PROMETHEUS_MULTIPROC_DIR`` must be set (``python -m service``
does it) so that ``/metrics`` aggregates every worker; with one worker the default registry is
used. The model version is an info-style gauge (``ic_model_info{version=…} 1``, and
``ic_canary_info`` for a canary version) so that it works in both modes; the series of versions
no longer loaded are left out (``render``), the gauges' and those of counters labelled by version.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

FAST = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

REQUEST_SECONDS = Histogram(
    "ic_http_request_duration_seconds",
    "HTTP request latency by route template, method and status code.",
    ["route", "method", "status"],
    buckets=FAST,
)
REDIS_SECONDS = Histogram(
    "ic_redis_duration_seconds", "Redis round trips by operation.", ["operation"], buckets=FAST
)
REDIS_ERRORS = Counter(
    "ic_redis_errors_total", "Redis operations that failed or timed out.", ["operation"]
)
ANN_SECONDS = Histogram(
    "ic_ann_query_duration_seconds",
    "One batched nearest-neighbour query, by index.",
    ["index"],
    buckets=FAST,
)
CANDIDATES = Histogram(
    "ic_candidates_returned",
    "Candidates returned per module, by the model version that answered.",
    ["module", "version"],
    buckets=(0, 1, 5, 10, 25, 50, 100, 200, 500),
)
ANSWER_SECONDS = Histogram(
    "ic_answer_duration_seconds",
    "Time to compute one candidates answer (history read, retrieval, merge), by model version: "
    "the arms' latency side by side.",
    ["version"],
    buckets=FAST,
)
FALLBACKS = Counter(
    "ic_fallbacks_total",
    "Answers served from popular items, by reason and model version.",
    ["reason", "version"],
)
BACKFILLED = Counter(
    "ic_backfilled_candidates_total",
    "Popular items appended to a module its neighbours left short of k (popular_in_category: "
    "of a seed's category; popular: overall), by model version.",
    ["module", "reason", "version"],
)
REDIS_UP = Gauge(
    "ic_redis_up",
    "1 when the last Redis operation of a worker succeeded, 0 when it failed or timed out.",
    multiprocess_mode="livemin",
)
DEGRADED = Counter("ic_degraded_total", "Answers degraded because Redis was unavailable.")
UNKNOWN_SEEDS = Counter("ic_unknown_seeds_total", "History items absent from the model.")
EVENTS = Counter("ic_events_ingested_total", "Events written to Redis.", ["interaction"])
RELOADS = Counter("ic_reloads_total", "Model reload attempts by result.", ["result"])
MODEL_INFO = Gauge(
    "ic_model_info", "The served model version (value 1).", ["version"], multiprocess_mode="liveall"
)
CANARY_INFO = Gauge(
    "ic_canary_info",
    "The canary version loaded beside the served one (value 1).",
    ["version"],
    multiprocess_mode="liveall",
)
CANARY_PERCENT = Gauge(
    "ic_canary_percent",
    "Share of users (%) the canary version answers: CANARY_PERCENT once it is loaded, else 0.",
    multiprocess_mode="liveall",
)
CANARY_FALLBACKS = Counter(
    "ic_canary_fallbacks_total",
    "Requests of canary users answered by the served version because the canary is not "
    "loaded (loading, missing, refused, unavailable).",
    ["reason"],
)
MODEL_CREATED = Gauge(
    "ic_model_created_timestamp_seconds",
    "When the served version was trained (unix time); alert on its age.",
    multiprocess_mode="liveall",
)
MODEL_LOAD_SECONDS = Gauge(
    "ic_model_load_seconds",
    "Time to verify, load and warm the served version.",
    multiprocess_mode="liveall",
)
PAUSES = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
GC_PAUSE_SECONDS = Histogram(
    "ic_gc_pause_seconds",
    "Pauses of the cyclic garbage collector (every thread of a worker stops), by generation "
    "(service/runtime_monitor.py).",
    ["generation"],
    buckets=PAUSES,
)
LOOP_LAG_SECONDS = Histogram(
    "ic_event_loop_lag_seconds",
    "How late a worker's event loop ran a 50 ms timer: time it was blocked (a slow callback, a GC "
    "pause, the GIL held by another thread) or without a CPU.",
    buckets=PAUSES,
)
LOOP_LAG_MAX = Gauge(
    "ic_event_loop_lag_max_seconds",
    "The largest event-loop lag of each worker over the last 60 to 120 seconds.",
    multiprocess_mode="liveall",
)
INDEX_SIZE = Gauge(
    "ic_index_items", "Items in each index of the served version.", ["index"],
    multiprocess_mode="liveall",
)  # fmt: skip


M = TypeVar("M", Counter, Histogram)
_children: dict[tuple[Counter | Histogram, tuple[str, ...]], Any] = {}


def child(metric: M, *labels: str) -> M:
    """``metric.labels(*labels)``, looked up once per process: the request path observes
    several labelled metrics per request, and ``labels`` takes a lock and builds its key each
    time. Only for counters and histograms, whose children are never removed."""
    found = _children.get((metric, labels))
    if found is None:
        found = _children[(metric, labels)] = metric.labels(*labels)
    return found


class timed:  # lower case: used as a function, ``with timed(…):``
    """Observe the wall time of the block into ``histogram`` with ``labels`` (a class, not a
    ``@contextmanager``: a request times five or six blocks, and a generator costs µs each)."""

    __slots__ = ("_child", "_started")

    def __init__(self, histogram: Histogram, *labels: str) -> None:
        self._child = child(histogram, *labels)
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *_: object) -> None:
        self._child.observe(time.perf_counter() - self._started)


def ann_timer(index: str) -> AbstractContextManager[None]:
    """Times one batched query of ``index`` (retrieval's QueryTimer)."""
    return timed(ANN_SECONDS, index)


CURRENT_ONLY = ("ic_model_info", "ic_canary_info", "ic_index_items")
"""Gauges of the loaded versions: a sample at 0 is a version (or index) no longer loaded."""
LOADED = ("ic_model_info", "ic_canary_info")
"""The gauges naming the loaded versions: the only values a ``version`` label may show."""


class _ServedOnly(Collector):
    """``source``'s metrics without the 0-valued samples of ``CURRENT_ONLY``, and without the
    samples of versions no worker has loaded any more (a ``version`` label of a counter or
    histogram: its series cannot be removed from a worker's file, so it is left out here; the
    label's values are the two loaded versions at most, not every version a pod ever served)."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        families = list(self.source.collect())
        for family in families:
            if family.name in CURRENT_ONLY:
                family.samples = [s for s in family.samples if s.value != 0]
        loaded = {s.labels["version"] for f in families if f.name in LOADED for s in f.samples}
        for family in families:
            if family.name not in LOADED:
                family.samples = [s for s in family.samples if _loaded(s, loaded)]
            yield family


def _loaded(sample: Sample, loaded: set[str]) -> bool:
    """A sample of no version in particular, or of a loaded one."""
    return "version" not in sample.labels or sample.labels["version"] in loaded


def render() -> tuple[bytes, str]:
    """The exposition text of every metric (of all live workers in multiprocess mode: a dead
    worker's gauges are dropped by the supervisor, service/workers.py)."""
    source = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        source = CollectorRegistry()
        multiprocess.MultiProcessCollector(source)
    shown = CollectorRegistry(auto_describe=False)
    shown.register(_ServedOnly(source))
    return generate_latest(shown), CONTENT_TYPE_LATEST
