"""The rules the client applies without a server: which request a call becomes, when a failure
is tried again and how long the client waits first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from client import Event, Retry, calls
from client.calls import GET_EXCLUDE_MAX
from client.policy import retry_after

REQUEST = httpx.Request("GET", "http://service/v1/users/u/candidates")


def answer(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=REQUEST)


def test_options_left_out_are_not_sent_and_repeated_ones_repeat():
    assert calls.candidates("u").params == ()
    call = calls.candidates("u", k=5, offset=0, category="c1", exclude=["a", "b"])
    assert call.params == (("k", 5), ("offset", 0), ("category", "c1"), ("exclude", "a"),
                           ("exclude", "b"))  # fmt: skip


def test_a_long_exclude_list_goes_in_a_post_body_with_the_other_options():
    short = calls.candidates("u", exclude=[f"i{n}" for n in range(GET_EXCLUDE_MAX)])
    assert (short.operation, short.method) == ("getCandidates", "GET")
    long = calls.candidates("u", k=3, category=["c"], exclude=["x" * 100] * 25)  # 2.5 KB
    assert (long.operation, long.method, long.params) == ("postCandidates", "POST", ())
    assert long.body == {"k": 3, "category": ["c"], "exclude": ["x" * 100] * 25}
    assert long.idempotent  # a read, with its options in a body


def test_ids_are_one_path_segment_each():
    assert calls.entity_neighbors("query", "red shoes/50%").path == (
        "/v1/entities/query/red%20shoes%2F50%25/neighbors"
    )
    assert calls.item_neighbors("a/b").path == "/v1/items/a%2Fb/neighbors"


def test_events_are_a_batch_that_is_not_idempotent_and_admin_calls_need_the_token():
    when = datetime(2026, 1, 31, 12, tzinfo=UTC)
    call = calls.post_events(Event(user_id="u", item_id="i", interaction="cart", timestamp=when))
    assert call.body == {"events": [{"user_id": "u", "item_id": "i", "interaction": "cart",
                                     "timestamp": "2026-01-31T12:00:00Z"}]}  # fmt: skip
    assert not call.idempotent and not call.admin
    assert calls.reload().admin and calls.change_hidden(hide=["i"]).admin


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after("3") == 3.0 and retry_after(None) is None and retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= (retry_after(later) or 0) <= 30
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # past: now


def test_backoff_doubles_with_jitter_up_to_its_cap():
    policy = Retry(attempts=10, backoff=0.1, max_backoff=0.5)
    for attempt, cap in [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.5), (8, 0.5)]:
        waits = {policy.pause(True, answer(503), attempt) for _ in range(50)}
        assert all(w is not None and cap / 2 <= w <= cap for w in waits) and len(waits) > 1


def test_what_is_retried_depends_on_the_call_and_the_failure():
    policy = Retry(attempts=3)
    refused = httpx.ConnectError("refused", request=REQUEST)
    read_timeout = httpx.ReadTimeout("slow", request=REQUEST)
    assert policy.pause(True, read_timeout, 0) is not None
    assert policy.pause(False, refused, 0) is not None  # never sent: safe for events too
    assert policy.pause(False, read_timeout, 0) is None  # may have been recorded
    assert policy.pause(False, answer(503), 0) is None
    assert policy.pause(True, answer(500), 0) is None and policy.pause(True, answer(404), 0) is None
    assert policy.pause(True, answer(503), 2) is None  # the third of three tries was the last
    assert policy.pause(True, answer(429, **{"Retry-After": "2"}), 0) == 2.0
    assert policy.pause(True, answer(503, **{"Retry-After": "60"}), 0) is None  # too long


@pytest.mark.parametrize("bad", [{"attempts": 0}, {"backoff": -1.0}])
def test_an_impossible_policy_is_refused(bad):
    with pytest.raises(ValueError):
        Retry(**bad)
