"""Retries, backoff, Retry-After and timeouts, against a tiny real HTTP server that answers as
scripted (503 then 200, a slow answer, listening only after a while): what the service does
not do on demand. Real sockets, no mocked transport."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from client import (
    NO_RETRY,
    AsyncCandidatesClient,
    CandidatesClient,
    Event,
    Retry,
    TimedOut,
    Timeouts,
    Unavailable,
)
from demo.redis import free_port

QUICK = Retry(attempts=4, backoff=0.05, max_backoff=0.2)
EVENT = Event(user_id="u", item_id="i", interaction="view")
OK = b'{"status": "ok"}'


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = OK
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class Scripted:
    """A real HTTP server on localhost answering its n-th request with ``replies[n]`` (the
    last one again once they run out), recording the requests it receives."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = replies or (Reply(),)
        self.seen: list[Seen] = []
        self.port = free_port()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Scripted:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.server.daemon_threads, self.server.block_on_close = True, False
        serve = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        serve.start()
        return self

    def start_after(self, seconds: float) -> Scripted:
        """Refuse connections for ``seconds``, then answer: a service that starts late."""
        threading.Timer(seconds, self.start).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        script = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                script.seen.append(Seen(self.command, self.path, dict(self.headers)))
                reply = script.replies[min(len(script.seen), len(script.replies)) - 1]
                time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in {
                        "Content-Type": "application/json",
                        **reply.headers,
                    }.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the client stopped waiting

            do_POST = do_GET

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def scripted() -> Iterator[type[Scripted]]:
    """``scripted(Reply(...), ...)``: servers stopped after the test."""
    made: list[Scripted] = []

    class Made(Scripted):
        def __init__(self, *replies: Reply) -> None:
            super().__init__(*replies)
            made.append(self)

    yield Made
    for server in made:
        server.stop()


def test_a_503_then_a_200_is_an_answer_and_every_try_has_the_same_request_id(scripted):
    server = scripted(Reply(503), Reply(503), Reply()).start()
    with CandidatesClient(server.url, retry=QUICK) as api:
        assert api.health().status == "ok"
    assert len(server.seen) == 3
    assert len({s.headers["X-Request-ID"] for s in server.seen}) == 1


@pytest.mark.parametrize("status", [429, 502, 504])
def test_other_not_now_statuses_are_retried_too(scripted, status):
    server = scripted(Reply(status), Reply()).start()
    with CandidatesClient(server.url, retry=QUICK) as api:
        assert api.health().status == "ok"
    assert len(server.seen) == 2


def test_retries_stop_at_the_policys_attempts_with_the_services_message(scripted):
    busy = json.dumps({"detail": "no model loaded yet"}).encode()
    server = scripted(Reply(503, busy, {"X-Request-ID": "srv-1"})).start()
    with CandidatesClient(server.url, retry=QUICK) as api, pytest.raises(Unavailable) as raised:
        api.candidates("u")
    assert len(server.seen) == QUICK.attempts
    error = raised.value
    assert (error.status, error.detail, error.request_id) == (503, "no model loaded yet", "srv-1")


def test_a_500_is_not_retried(scripted):
    server = scripted(Reply(500, b"oops")).start()
    with CandidatesClient(server.url, retry=QUICK) as api, pytest.raises(Unavailable):
        api.health()
    assert len(server.seen) == 1


def test_retry_after_is_honoured_and_one_too_long_fails_at_once(scripted):
    server = scripted(Reply(503, headers={"Retry-After": "1"}), Reply()).start()
    with CandidatesClient(server.url, retry=QUICK) as api:
        started = time.monotonic()
        api.health()
        assert time.monotonic() - started >= 0.95
    server = scripted(Reply(503, headers={"Retry-After": "3600"}), Reply()).start()
    with CandidatesClient(server.url, retry=QUICK) as api, pytest.raises(Unavailable):
        api.health()
    assert len(server.seen) == 1


def test_a_service_that_starts_late_is_waited_for_even_by_events(scripted):
    server = scripted(Reply(202, b'{"accepted": 1}')).start_after(0.3)
    patient = Retry(attempts=30, backoff=0.1, max_backoff=0.2)
    with CandidatesClient(server.url, retry=patient) as api:
        assert api.post_events(EVENT).accepted == 1  # refused, so surely never sent: repeated
    assert len(server.seen) == 1


def test_events_are_not_repeated_once_they_may_have_been_recorded(scripted):
    server = scripted(Reply(503), Reply(202, b'{"accepted": 1}')).start()
    with CandidatesClient(server.url, retry=QUICK) as api, pytest.raises(Unavailable) as raised:
        api.post_events(EVENT)
    assert len(server.seen) == 1 and raised.value.sent


def test_a_refused_connection_is_unavailable_and_says_nothing_was_sent():
    nowhere = f"http://127.0.0.1:{free_port()}"
    with CandidatesClient(nowhere, retry=QUICK) as api, pytest.raises(Unavailable) as raised:
        api.post_events(EVENT)
    assert raised.value.status is None and not raised.value.sent


def test_a_slow_answer_times_out_per_client_and_per_call(scripted):
    server = scripted(Reply(delay=1.0)).start()
    with CandidatesClient(server.url, timeout=Timeouts(read=0.2), retry=NO_RETRY) as api:
        started = time.monotonic()
        with pytest.raises(TimedOut) as raised:
            api.health()
        assert time.monotonic() - started < 0.8 and raised.value.status is None
        assert api.with_options(timeout=2.0).health().status == "ok"  # one call waits longer
    assert len(server.seen) == 2


def test_a_timed_out_read_is_retried_but_a_timed_out_event_is_not(scripted):
    server = scripted(Reply(delay=1.5), Reply(), Reply(delay=1.5)).start()
    with CandidatesClient(server.url, timeout=Timeouts(read=0.5), retry=QUICK) as api:
        assert api.health().status == "ok"
        assert len(server.seen) == 2
        with pytest.raises(TimedOut) as raised:
            api.post_events(EVENT)
    assert len(server.seen) == 3 and raised.value.sent


def test_the_async_client_retries_and_times_out_the_same_way(scripted):
    server = scripted(Reply(503), Reply(), Reply(delay=1.5)).start()

    async def scenario() -> None:
        async with AsyncCandidatesClient(server.url, timeout=0.5, retry=QUICK) as api:
            assert (await api.health()).status == "ok"
            with pytest.raises(TimedOut):
                await api.with_options(retry=NO_RETRY).health()

    asyncio.run(scenario())
    assert len(server.seen) == 3


def test_a_not_ready_instance_answers_ready_false_at_once(scripted):
    body = b'{"ready": false, "model_version": null, "redis": true, "detail": "no model"}'
    server = scripted(Reply(503, body)).start()
    with CandidatesClient(server.url, retry=QUICK) as api:
        ready = api.ready()
    assert (ready.ready, ready.detail, len(server.seen)) == (False, "no model", 1)
