"""uvicorn's httptools protocol: TCP_NODELAY, bounded request heads, one write per response.

**TCP_NODELAY.** With ``--workers`` > 1 uvicorn binds the listening socket itself as
``socket.socket(AF_INET)``, whose ``proto`` is 0, and asyncio only sets TCP_NODELAY on sockets
whose proto is TCP: the response's header and body writes then meet the client's delayed ACK,
~40 ms per response (measured: p50 49 ms → 7 ms at 75 req/s, docs/benchmarks.md "Serving").

**Bounded heads.** httptools buffers a request line and headers of any size, and uvicorn
accepts any number of headers: a 1 MB header or 10,000 headers would be held in memory and
parsed. Here a head (request line plus headers) larger than ``MAX_HEAD_BYTES``, or with more than
``MAX_HEADERS`` headers, is answered ``431`` with a short message and the connection is closed,
before the application sees it. Bodies are bounded by the application (``service/limits.py``).

**One write per response, at the end of the loop iteration.** uvicorn writes a response's
head and body as two ``transport.write`` calls: two ``send`` system calls, two TCP segments
(TCP_NODELAY joins nothing). ``OneWrite`` sends a connection's writes of one event-loop
iteration as one, after the callbacks already due in it: under load the answers of several
connections leave together and their next requests arrive together, so a worker wakes and
polls less per request (A/B: 9–18 % less worker CPU per candidates request; joining only the
head to its body, at once, saved nothing measurable: docs/benchmarks.md, "CPU per request").

httptools (a C parser) rather than h11 (pure Python): ~0.4 ms less CPU per request.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.settings import Settings

LINGER_SECONDS = 2.0


@functools.cache
def _limits() -> tuple[int, int]:
    """MAX_HEAD_BYTES and MAX_HEADERS, read from the environment once per process (uvicorn
    names the protocol class, so each worker process builds its own)."""
    settings = Settings()
    return settings.max_head_bytes, settings.max_headers


class OneWrite:
    """A transport whose writes of one event-loop iteration leave as one, at its end.

    Everything else is the wrapped transport's; ``close`` and ``write_eof`` send what is
    pending first (asyncio closes a transport after its buffered data is sent, and so does
    this). A write waits at most for the callbacks already due in the same iteration."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            self._transport.writelines(pending)  # uvloop: one writev, no copy

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedHttpTools(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_head_bytes, self.max_headers = _limits()
        self._head_bytes: int | None = 0  # None while a request's body is being received
        self._header_count = 0
        self._too_many_headers = False
        self._discarding = False  # refused: the rest of what the client sends is dropped

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(OneWrite(transport, self.loop))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        if self._head_bytes is not None:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._head_bytes is not None and self._head_bytes > self.max_head_bytes:
            self._refuse()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.max_headers:
            self._too_many_headers = True
            raise ValueError("too many headers")  # httptools stops parsing: send_400_response
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head_bytes = 0  # what follows on this connection is the next request's head
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if self._too_many_headers:
            self._refuse()
        else:
            super().send_400_response(msg)

    def _refuse(self) -> None:
        """Answer 431, then close as nginx's lingering close does: our side first, while what
        the client is still sending is read and dropped for ``LINGER_SECONDS``, since closing a
        socket with unread input sends a reset that can destroy the answer before it is read."""
        if self.transport.is_closing() or self._discarding:
            return
        self._discarding = True
        message = (
            f"request head too large: at most {self.max_head_bytes} bytes (MAX_HEAD_BYTES) "
            f"and {self.max_headers} headers (MAX_HEADERS)"
        ).encode()
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(message), message)
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_SECONDS, self.transport.close)
