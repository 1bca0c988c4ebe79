"""The time split: a window measured back from the last event, no training event after it."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.config import SessionConfig
from trainer.evaluation.split import DAY, SplitError, holdout, time_split

T0 = 1_511_000_000
MIN = 60


def session(user: str, start: int, items: str, interaction: str = "view") -> list[tuple]:
    return [(user, f"i{c}", interaction, start + k * MIN, "c") for k, c in enumerate(items)]


def test_the_test_window_is_counted_back_from_the_last_event_not_the_first(make_log):
    rows = session("u", T0, "abcd") + session("v", T0 + 2 * DAY, "efgh")
    rows += [("w", "iz", "view", T0 - 80 * DAY, "c")]  # a stray row from long before
    split = time_split(make_log(rows), 1, SessionConfig())
    last = T0 + 2 * DAY + 3 * MIN
    assert split.info.cutoff == last + 1 - DAY
    assert split.info.test_sessions == 1 and split.info.train_events == 5


def test_training_events_stop_at_the_cutoff_and_test_sessions_start_after_it(make_log):
    last_session = session("v", T0 + DAY + 30 * MIN, "klmn")  # cutoff: T0 + 33 min + 1 s
    straddling = session("u", T0 + 30 * MIN, "abcdef")  # 30..35 min: crosses the cutoff
    rows = session("w", T0, "ghij") + straddling + last_session
    log = make_log(rows)
    split = time_split(log, 1, SessionConfig())
    assert (split.train.timestamp < split.info.cutoff).all()
    assert (split.test.start >= split.info.cutoff).all()
    test_items = {str(log.item_ids[i]) for i in split.test.item}
    assert test_items == {"ik", "il", "im", "in"}  # the straddling session is not a test session
    assert split.info.train_events == 4 + 4  # its events before the cutoff are training data


def test_a_log_shorter_than_the_window_is_refused(make_log):
    with pytest.raises(SplitError, match="smaller --test-days"):
        time_split(make_log(session("u", T0, "abcd")), 2, SessionConfig())


def test_a_window_without_a_long_enough_session_is_refused(make_log):
    rows = session("u", T0, "abcd") + session("v", T0 + 3 * DAY, "ab")
    with pytest.raises(SplitError, match="larger --test-days"):
        time_split(make_log(rows), 1, SessionConfig())


def test_a_published_versions_training_period_is_kept_out_of_its_test(make_log):
    rows = session("u", T0, "abcd") + session("v", T0 + 10 * MIN * 6, "efgh")
    log = make_log(rows)
    sessions, info = holdout(log, 1, SessionConfig())
    assert len(sessions) == 2
    sessions, info = holdout(log, 1, SessionConfig(), not_before=T0 + 30 * MIN)
    assert len(sessions) == 1 and info.cutoff == T0 + 30 * MIN
    assert np.all(sessions.start >= T0 + 30 * MIN)
