"""The trainer's log lines on stderr: readable text, or JSON lines like the service's.

``--log-format json`` (or ``LOG_FORMAT=json``) is for a scheduler whose log store parses JSON
(a Kubernetes CronJob, Airflow): every record — step timings, bad-row reports, progress lines —
is one object per line (``contracts/json_logs.py``). Text is for a person at a terminal.
"""

from __future__ import annotations

import logging
from typing import Literal

from contracts.json_logs import JsonFormatter, StderrHandler

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: int, log_format: LogFormat) -> None:
    """Send every logger's records to stderr in ``log_format``, in place of an earlier
    ``configure``'s handler (others, a test runner's, stay)."""
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT))
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, StderrHandler)] + [handler]
    root.setLevel(level)
    logging.getLogger("numba").setLevel(max(level, logging.INFO))  # its DEBUG is compiler IR
