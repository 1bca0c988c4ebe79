"""Named steps of a training run, each logged with its wall time and the process's memory.

``with stage("hnsw"): …`` logs one record when the step ends: ``stage hnsw: 12.3 s, RSS 812 MB,
peak 1,204 MB`` with the same figures as fields (``stage``, ``seconds``, ``rss_mb``,
``peak_rss_mb``) for ``--log-format json``. ``bench/train_scale.py`` reads these records to
build its per-stage table of time and memory; an operator reads them to see where a run spends.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("trainer.stages")
_PAGE = resource.getpagesize()


def rss_mb() -> float:
    """This process's resident memory now, in MB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE / 1e6
    except OSError:
        return 0.0


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (the kernel's high-water mark, in KiB
    on Linux, is updated lazily: never below the memory resident now)."""
    high_water = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
    return max(high_water, rss_mb())


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block and log its end with the memory figures (also when it raises)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - started
        now, peak = rss_mb(), peak_rss_mb()
        log.info(
            "stage %s: %.1f s, RSS %.0f MB, peak %.0f MB",
            name, seconds, now, peak,
            extra={"stage": name, "seconds": round(seconds, 3), "rss_mb": round(now, 1),
                   "peak_rss_mb": round(peak, 1)},
        )  # fmt: skip
