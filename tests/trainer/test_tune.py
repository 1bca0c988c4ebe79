"""trainer/tune.py: the coordinate search's stopping rule and the tuned config file."""

from __future__ import annotations

from trainer.config import TrainConfig, load_config
from trainer.tune import Trial, Tuned, coordinate_search, knob_value, write_tuned

KNOBS = (("sgns.window", (2, 3, 5, 8, 12)), ("negatives.hierarchy_weight", (0.5, 1.0, 2.0)))


def search(objective, time_left=lambda: True):
    asked: list[str] = []

    def evaluate(config: TrainConfig, setting: str) -> float:
        asked.append(setting)
        return objective(config)

    start = TrainConfig()
    found = coordinate_search(start, objective(start), evaluate, time_left, KNOBS)
    return found, asked


def score(window_peak: int, weight_peak: float):
    return lambda c: (
        -abs(c.sgns.window - window_peak) - abs(c.negatives.hierarchy_weight - weight_peak)
    )


def test_each_direction_stops_at_the_first_value_that_does_not_improve():
    (config, _, kept, why), asked = search(score(8, 2.0))
    assert config.sgns.window == 8 and config.negatives.hierarchy_weight == 2.0
    assert asked == [
        "sgns.window=8", "sgns.window=12", "sgns.window=3",  # up, past the peak; down, worse
        "negatives.hierarchy_weight=2.0", "negatives.hierarchy_weight=0.5",
    ]  # fmt: skip
    assert kept == ["sgns.window=8", "negatives.hierarchy_weight=2.0"]
    assert why == "every knob was searched"


def test_a_knob_goes_down_when_up_does_not_help():
    (config, *_), asked = search(score(2, 1.0))
    assert config.sgns.window == 2
    assert asked[:3] == ["sgns.window=8", "sgns.window=3", "sgns.window=2"]


def test_the_search_stops_when_the_budget_runs_out():
    calls = iter([True, True, False])
    (config, _, _, why), asked = search(score(12, 1.0), time_left=lambda: next(calls))
    assert asked == ["sgns.window=8", "sgns.window=12"]
    assert config.sgns.window == 12 and why == "the time budget ran out"


def test_the_tuned_file_holds_what_differs_and_loads_back(tmp_path):
    chosen = TrainConfig().with_overrides(
        {"sgns": {"epochs": 40, "window": 8}, "entities": {"kinds": []}}
    )
    trials = [Trial("", 0.01, 20, 1.0, True), Trial("sgns.window=8", 0.05, 40, 1.0, True)]
    validation = {"cutoff": "a", "test_end": "b", "test_sessions": 3}
    tuned = Tuned(chosen, 0.05, 0.01, trials, validation, "every knob was searched")
    path, trace = write_tuned(tuned, tmp_path / "tuned.toml", "python -m trainer tune …")
    text = path.read_text()
    assert "[sgns]" in text and "window = 8" in text and "[index]" not in text
    assert "5.000 %" in text and "start 1.000 %" in text
    assert load_config(path) == chosen
    assert knob_value(load_config(path), "sgns.window") == 8
    assert trace.name == "tuned.trace.json" and '"sgns.window=8"' in trace.read_text()
