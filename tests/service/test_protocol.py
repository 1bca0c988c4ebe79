"""The HTTP protocol's write coalescing (service/protocol.py ``OneWrite``): a connection's
writes of one event-loop iteration leave in one system call, in order, and none is lost."""

from __future__ import annotations

import asyncio
from typing import Any

from service.protocol import OneWrite


class Recording:
    """A transport that records what is sent, one entry per system call."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.sent.append(data)

    def writelines(self, parts: Any) -> None:
        self.sent.append(b"".join(parts))

    def write_eof(self) -> None:
        self.sent.append(b"<eof>")

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def writes(actions: Any) -> tuple[list[bytes], Recording]:
    async def main() -> Recording:
        transport = Recording()
        one = OneWrite(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        actions(one)
        await asyncio.sleep(0)  # the end of this iteration
        await asyncio.sleep(0)
        return transport

    transport = asyncio.run(main())
    return transport.sent, transport


def test_a_head_and_its_body_leave_in_one_write() -> None:
    sent, _ = writes(lambda t: (t.write(b"head"), t.write(b"body")))
    assert sent == [b"headbody"]


def test_a_lone_write_leaves_at_the_end_of_the_iteration() -> None:
    sent, _ = writes(lambda t: t.write(b"100 continue"))
    assert sent == [b"100 continue"]


def test_the_writes_of_an_iteration_leave_in_order_in_one_write() -> None:
    sent, _ = writes(lambda t: [t.write(part) for part in (b"a", b"b", b"c", b"d", b"e")])
    assert sent == [b"abcde"]


def test_close_and_eof_send_what_is_pending_first() -> None:
    sent, transport = writes(lambda t: (t.write(b"answer"), t.write_eof(), t.close()))
    assert sent == [b"answer", b"<eof>"] and transport.closed


def test_the_rest_is_the_transports() -> None:
    loop = asyncio.new_event_loop()
    try:
        one = OneWrite(Recording(), loop)  # type: ignore[arg-type]
        assert one.get_extra_info("peername") == "info:peername"
    finally:
        loop.close()
