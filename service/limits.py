"""Request body limits: a size (413 before anything is read) and a time to receive it (408).

A plain ASGI middleware in front of the app. A ``Content-Length`` over the limit is refused at
once, so a client announcing 10 GB that never arrive holds nothing open; a chunked body is
counted as it arrives and refused as soon as it passes the limit; a body that does not arrive
within ``timeout_seconds`` of the request's start is refused with 408. In every case the answer
says which limit, and the connection is closed (the rest of the body is never read).
The request line and headers are bounded earlier, in the HTTP protocol (``service/protocol.py``).
"""

from __future__ import annotations

import asyncio
import time

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, timeout_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _declared_body(scope)
        if not chunked and not declared:  # no body (every GET): nothing to bound
            await self.app(scope, receive, send)
            return
        too_large = _Refused(413, f"the body exceeds {self.max_bytes} bytes (MAX_BODY_BYTES)")
        if declared is not None and declared > self.max_bytes:
            await _refuse(send, too_large)
            return
        deadline = time.monotonic() + self.timeout_seconds
        received = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal received
            try:
                async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
                    message = await receive()
            except TimeoutError:
                raise _Refused(
                    408, f"the body did not arrive within {self.timeout_seconds:g} s"
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise too_large
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracked_send)
        except _Refused as refused:
            if not started:
                await _refuse(send, refused)


def _declared_body(scope: Scope) -> tuple[int | None, bool]:
    """The request's Content-Length (None when absent or unreadable) and whether it is chunked."""
    length, chunked = None, False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


async def _refuse(send: Send, refused: _Refused) -> None:
    body = orjson.dumps({"detail": refused.message})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
