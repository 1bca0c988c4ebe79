"""trainer/auto.py: the validation split of the training window and the epochs' walk."""

from __future__ import annotations

import pytest

from trainer.auto import NoValidationError, choose, validation_split, walk_epochs
from trainer.config import DataConfig, TrainConfig
from trainer.evaluation.split import DAY, time_split
from trainer.events import EventLog, load_events
from trainer.synth import SynthConfig, generate, write_events


@pytest.fixture(scope="module")
def event_log(tmp_path_factory) -> EventLog:
    path = tmp_path_factory.mktemp("events") / "events.csv"
    write_events(generate(SynthConfig(users=600, items=800, days=6)), path)
    return load_events(path, DataConfig(), progress=False)


def test_the_validation_split_is_the_last_day_of_the_events_it_is_given(event_log):
    config = TrainConfig()
    outer = time_split(event_log, 1.0, config.sessions)  # an evaluation's test day
    inner = validation_split(outer.train, config)  # what evaluate gives choose
    assert inner.info.test_end == int(outer.train.timestamp.max()) + 1
    assert inner.info.cutoff == inner.info.test_end - DAY
    assert inner.info.test_end <= outer.info.cutoff  # the test window is never looked at
    assert int(inner.train.timestamp.max()) < inner.info.cutoff


def test_a_log_too_thin_for_validation_keeps_the_starting_point(event_log):
    config = TrainConfig().with_overrides({"auto": {"min_validation_pairs": 10**9}})
    with pytest.raises(NoValidationError, match=r"fewer than auto\.min_validation_pairs"):
        validation_split(event_log, config)
    choice = choose(event_log, config, progress=False)
    assert choice.config.sgns.epochs == "auto" and choice.blend is None
    assert "min_validation_pairs" in choice.record["why"]


def test_choose_resolves_the_epochs_and_learns_a_blend_rule(event_log):
    config = TrainConfig().with_overrides({"sgns": {"dim": 16, "threads": 1}})
    choice = choose(event_log, config, progress=False)
    epochs = choice.record["epochs"]
    assert isinstance(choice.config.sgns.epochs, int)
    assert choice.config.sgns.epochs == epochs["chosen"]
    best = max(epochs["curve"], key=lambda step: step["objective"])
    assert best["epochs"] == epochs["chosen"]
    assert choice.blend is not None
    assert set(choice.blend.thresholds) <= {"item-interaction", "item", "category"}
    assert choice.blend.chosen_on["pairs"]["item-interaction"] > 0


def walk(start: int, objective, max_epochs: int = 160, afford=lambda e: True):
    ran: list[int] = []

    def run(epochs: int) -> float:
        ran.append(epochs)
        return objective(epochs)

    return walk_epochs(start, objective(start), run, max_epochs, afford), ran


def peak_at(best: int):
    return lambda epochs: -abs(epochs - best)


def test_the_walk_doubles_while_it_improves_and_stops_at_the_first_step_that_does_not():
    assert walk(10, peak_at(40)) == (40, [20, 40, 80])


def test_the_walk_halves_when_the_first_doubling_does_not_help():
    assert walk(80, peak_at(20)) == (20, [160, 40, 20, 10])


def test_the_walk_keeps_the_start_when_neither_direction_helps():
    assert walk(10, peak_at(10)) == (10, [20, 5])


def test_the_walk_respects_the_bounds_and_the_budget():
    assert walk(100, peak_at(1000), max_epochs=160) == (160, [160])
    assert walk(10, peak_at(1000), afford=lambda epochs: epochs <= 40) == (40, [20, 40])
    assert walk(1, peak_at(0)) == (1, [2])  # never below one epoch
