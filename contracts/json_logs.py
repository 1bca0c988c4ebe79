"""The JSON log line both processes write: one object per line, for log collectors.

``{"time", "level", "logger", "message", …}``: the time in UTC with milliseconds
(``2026-12-06T11:18:00.123Z``) whatever the host's zone, a record's ``extra`` fields as keys,
and no terminal colour codes (a message that carries them is cleaned), so a scheduler's log
store can parse every line. The service adds its request and trace ids (``service/logs.py``);
the trainer writes these with ``--log-format json`` (``trainer/logs.py``).
"""

from __future__ import annotations

import functools
import logging
import math
import re
import sys
import time
from typing import Any, TextIO

import orjson

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


class JsonFormatter(logging.Formatter):
    """One JSON object per record; subclasses add per-context fields in ``context``."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        message = _ANSI.sub("", record.getMessage())
        return self.line(record.created, record.levelname, record.name, message, fields)

    def line(
        self, created: float, level: str, logger: str, message: str, fields: dict[str, Any]
    ) -> str:
        """The line of a record made ``created`` (epoch seconds) with these ``fields``."""
        entry: dict[str, Any] = {
            "time": utc_ms(created),
            "level": level,
            "logger": logger,
            "message": message,
        }
        entry.update(self.context())
        entry.update(fields)
        return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()

    def context(self) -> dict[str, Any]:
        """Fields of the running context (a request's id…); none here."""
        return {}


class StderrHandler(logging.StreamHandler):
    """A handler on whatever ``sys.stderr`` is when a record is written (as logging's last
    resort does): a test runner's captured stream never outlives its test in a handler, and the
    trainer's and the service's ``configure`` recognise (and replace) each other's."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: object) -> None:
        pass


def utc_ms(created: float) -> str:
    """``created`` (seconds since the epoch) as ``YYYY-MM-DDTHH:MM:SS.mmmZ``; the part to the
    second is formatted once per second (the service writes an access line per request)."""
    fraction, seconds = math.modf(created)  # rounded to the microsecond as datetime does
    micros = round(fraction * 1_000_000)
    carry, micros = divmod(micros, 1_000_000)
    return f"{_utc_second(int(seconds) + carry)}.{micros // 1000:03d}Z"


@functools.lru_cache(maxsize=4)
def _utc_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
