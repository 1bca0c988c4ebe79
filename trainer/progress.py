"""Progress bars on a terminal, plain periodic lines everywhere else.

On a terminal a step shows a live tqdm bar. Under a scheduler (a CronJob, CI, ``docker logs``)
stderr is a file or a pipe, where a bar's carriage returns make one unreadable line: there the
same bar becomes a log record (logger ``trainer.progress``) at most every ``LOG_SECONDS`` and when
it ends, so logs stay line-based — JSON lines too with ``--log-format json``. Every long step of
the trainer makes its bar here.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")
LOG_SECONDS = 30.0  # off a terminal: a progress line at most this often


log = logging.getLogger("trainer.progress")


class _Lines:
    """A file for tqdm that turns its carriage-return redraws into log records."""

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        if line:
            log.info(line)

    def flush(self) -> None:
        pass


def bar(iterable: Iterable[T] | None = None, *, enabled: bool = True, **options: Any) -> tqdm:
    """A tqdm bar (``options`` are tqdm's: total, desc, unit…), or nothing when not ``enabled``."""
    if not enabled:
        return tqdm(iterable, disable=True, **options)
    if sys.stderr.isatty():
        return tqdm(iterable, **options)
    plain = {"file": _Lines(), "mininterval": LOG_SECONDS, "ascii": True, "ncols": 80}
    return tqdm(iterable, **(options | plain | {"leave": True}))
