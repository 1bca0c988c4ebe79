"""Error answers: short, bounded, never the input echoed back, never a 5xx for bad input.

Every 422 has one shape, FastAPI's own (``{"detail": [{"loc", "msg", "type"}]}``), whether
pydantic found the problem or a route did: ``loc`` names the field (``["query", "k"]``), ``msg``
says what is expected. The offending value is not repeated: a 10 MB id must not come back as a
30 MB answer, and a value that JSON cannot carry (NaN, a lone surrogate) must not turn a 422
into a 500. Other errors (400, 404, 413, 503…) carry ``{"detail": "<message>"}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

MAX_ERRORS = 10  # a batch of 1,000 bad events answers with its first few problems
MAX_MESSAGE = 200  # characters of one message
MAX_LOC_PART = 64  # characters of one location part (a client-chosen field name, say)


class Unprocessable(HTTPException):
    """A 422 raised by a route, in the same shape as pydantic's: ``loc`` names the field."""

    def __init__(self, loc: Sequence[str | int], message: str, kind: str = "value_error"):
        super().__init__(422, [error(loc, message, kind)])


def error(loc: Sequence[object], message: str, kind: str = "value_error") -> dict[str, Any]:
    """One bounded entry of a 422's ``detail``."""
    parts = [p if isinstance(p, int) else _clip(str(p), MAX_LOC_PART) for p in loc][:8]
    return {"loc": parts, "msg": _clip(message, MAX_MESSAGE), "type": _clip(kind, MAX_LOC_PART)}


def validation_detail(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """pydantic's errors without their ``input`` and ``ctx``, at most ``MAX_ERRORS`` of them."""
    shown = [error(e.get("loc", ()), str(e.get("msg", "")), str(e.get("type", ""))) for e in errors]
    if len(errors) > MAX_ERRORS:
        more = len(errors) - MAX_ERRORS
        shown = [*shown[:MAX_ERRORS], error(("body",), f"… and {more} more errors", "too_many")]
    return shown


def install(app: FastAPI) -> None:
    """Answer request validation errors in the bounded shape above."""

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"detail": validation_detail(exc.errors())}, status_code=422)

    app.add_exception_handler(RequestValidationError, invalid_request)


def _clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with any lone surrogate made printable."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
