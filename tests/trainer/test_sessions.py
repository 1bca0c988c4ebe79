"""Sessionization: gaps, session ids, the min-length rule, repeats and ordering."""

from __future__ import annotations

import numpy as np

from trainer.config import SessionConfig
from trainer.sessions import sessionize

MIN = 60


def items_of(log, sessions) -> list[list[str]]:
    return [
        [str(log.item_ids[i]) for i in sessions.item[a:b]]
        for a, b in zip(sessions.offsets[:-1], sessions.offsets[1:], strict=True)
    ]


def test_a_gap_longer_than_30_minutes_starts_a_new_session(make_log):
    t = [0, MIN, 2 * MIN, 3 * MIN, 34 * MIN, 35 * MIN, 36 * MIN, 37 * MIN]
    log = make_log([("u", f"i{k}", "view", ts, "c") for k, ts in enumerate(t)])
    sessions = sessionize(log, SessionConfig())
    assert items_of(log, sessions) == [["i0", "i1", "i2", "i3"], ["i4", "i5", "i6", "i7"]]


def test_a_gap_of_exactly_30_minutes_does_not_cut(make_log):
    t = [0, MIN, 2 * MIN, 32 * MIN]
    log = make_log([("u", f"i{k}", "view", ts, "c") for k, ts in enumerate(t)])
    assert len(sessionize(log, SessionConfig())) == 1


def test_sessions_of_three_or_fewer_pairs_are_dropped_and_counted(make_log):
    rows = [("u", f"i{k}", "view", k, "c") for k in range(3)]
    rows += [("v", f"i{k}", "view", k, "c") for k in range(4)]
    sessions = sessionize(make_log(rows), SessionConfig())
    assert len(sessions) == 1
    assert sessions.dropped_short == 1
    assert sessions.lengths.tolist() == [4]


def test_consecutive_repeats_of_a_pair_collapse_before_the_length_rule(make_log):
    rows = [("u", "a", "view", 0, "c"), ("u", "a", "view", 5, "c"), ("u", "b", "view", 9, "c")]
    rows += [("u", "a", "cart", 12, "c")]
    log = make_log(rows)
    assert len(sessionize(log, SessionConfig())) == 0
    kept = sessionize(log, SessionConfig(dedupe_consecutive=False))
    assert items_of(log, kept) == [["a", "a", "b", "a"]]


def test_events_are_ordered_by_time_within_a_user_and_ties_keep_file_order(make_log):
    rows = [("u", "late", "view", 50, "c"), ("u", "tie1", "view", 10, "c")]
    rows += [("u", "tie2", "view", 10, "c"), ("u", "first", "view", 1, "c")]
    log = make_log(rows)
    assert items_of(log, sessionize(log, SessionConfig())) == [["first", "tie1", "tie2", "late"]]


def test_interleaved_users_get_separate_sessions(make_log):
    rows = [(u, f"{u}{k}", "view", k, "c") for k in range(4) for u in ("x", "y")]
    log = make_log(rows)
    sessions = sessionize(log, SessionConfig())
    assert sorted(map(tuple, items_of(log, sessions))) == [
        ("x0", "x1", "x2", "x3"),
        ("y0", "y1", "y2", "y3"),
    ]
    assert [str(log.user_ids[u]) for u in sessions.user] == ["x", "y"]


def test_session_id_column_overrides_the_gap_rule(make_log):
    header = ("user_id", "item_id", "interaction", "timestamp", "category_id", "session_id")
    rows = [("u", f"i{k}", "view", k * 3600, "c", "s1") for k in range(4)]
    rows += [("u", f"j{k}", "view", 4 * 3600 + k, "c", "s2") for k in range(4)]
    log = make_log(rows, header=header)
    sessions = sessionize(log, SessionConfig())
    assert items_of(log, sessions) == [["i0", "i1", "i2", "i3"], ["j0", "j1", "j2", "j3"]]


def test_session_start_is_the_first_event_time(make_log):
    rows = [("u", f"i{k}", "view", 100 + k, "c") for k in range(4)]
    sessions = sessionize(make_log(rows), SessionConfig())
    assert sessions.start.tolist() == [100]


def test_select_keeps_the_chosen_sessions(make_log):
    rows = [(u, f"{u}{k}", "view", k, "c") for u in ("x", "y") for k in range(4)]
    log = make_log(rows)
    picked = sessionize(log, SessionConfig()).select(np.array([False, True]))
    assert items_of(log, picked) == [["y0", "y1", "y2", "y3"]]
