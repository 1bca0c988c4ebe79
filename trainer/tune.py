"""``tune``: search the knobs that matter on a validation split, within a time budget.

    python -m trainer tune --events F [--adapter A] --out tuned.toml [--budget-minutes N]
    python -m trainer train --tune --events F --artifacts DIR      # tune, then train with it

The validation split is the last ``auto.validation_days`` of the given events (the training
window: ``tune`` never sees a later test window). First the epochs are chosen on the validation
curve exactly as ``sgns.epochs = "auto"`` does (trainer/auto.py); then a coordinate search goes
through ``KNOBS`` in order. For each knob the values are tried outwards from the current one,
each direction stopping at the first value that does not improve the objective (early
stopping), and the knob keeps its best value before the next is tried. The search stops when
the next trial would pass the budget (its cost estimated from the trials so far). The
objective is the view-interaction model's validation hit rate, averaged over the targets and K
= 50, 100, 200 (``auto.view_objective``).

The output is a TOML config holding only what differs from the defaults, headed by comments
with the validation figures, and ``<out>.trace.json`` with every trial.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import tomli_w

from trainer.auto import (
    OBJECTIVE_KS,
    epoch_curve,
    validation_pairs,
    validation_split,
    view_objective,
)
from trainer.config import TrainConfig
from trainer.evaluation.metrics import TestPairs
from trainer.evaluation.split import Split
from trainer.events import EventLog
from trainer.fit import fit

log = logging.getLogger("trainer.tune")

KNOBS: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("sgns.pair_vectors", ("independent", "item", "item_category")),
    ("sgns.sample", (0.0, 1e-5, 1e-4, 1e-3, 1e-2)),
    ("sgns.window", (2, 3, 5, 8, 12)),
    ("index.similarity", ("cosine", "inner_product")),
    ("negatives.hierarchy_weight", (0.0, 0.5, 1.0, 2.0, 4.0)),
    ("negatives.taxonomy_weight", (0.0, 0.5, 1.0, 2.0)),
    ("vocab.min_count.view", (1, 2, 3)),
    ("entities.kinds", ([], ["category"])),
    ("journeys.purchase_context", (False, True)),
    ("negatives.implicit", (False, True)),
)
"""Knob path → its values in order (ordered values are searched outwards from the current)."""


class KnobError(ValueError):
    """A setting is not ``section.field[.key]=value`` of the training config."""


@dataclass(frozen=True)
class Trial:
    setting: str  # "path=value" changed from the config before it, "" for the start
    objective: float
    epochs: int
    seconds: float
    kept: bool  # the search moved to this setting


@dataclass(frozen=True)
class Tuned:
    config: TrainConfig
    objective: float
    start_objective: float
    trials: list[Trial]
    validation: dict[str, Any]
    stopped: str  # why the search ended


def tune(event_log: EventLog, config: TrainConfig, budget_minutes: float, progress: bool) -> Tuned:
    """The best config found for ``event_log`` within ``budget_minutes`` (module doc)."""
    split = validation_split(event_log, config)
    pairs, _ = validation_pairs(split, config)
    deadline = time.monotonic() + budget_minutes * 60.0
    auto_config = config.with_overrides({"auto": {"budget_minutes": budget_minutes / 3}})
    trials: list[Trial] = []
    if config.sgns.epochs == "auto":
        models, curve = epoch_curve(split, pairs, auto_config, progress)
        config = config.with_overrides({"sgns": {"epochs": models.pairs.epochs}})
        for step in curve:
            trials.append(Trial(f"sgns.epochs={step['epochs']}", step["objective"],
                                int(step["epochs"]), step["seconds"],
                                int(step["epochs"]) == models.pairs.epochs))  # fmt: skip
        best = max(step["objective"] for step in curve)
    else:
        best = _trial(split, pairs, config, "", trials, kept=True)
    start = trials[0].objective

    def evaluate(candidate: TrainConfig, setting: str) -> float:
        return _trial(split, pairs, candidate, setting, trials)

    def time_left() -> bool:
        estimate = max(t.seconds for t in trials[-3:])  # the next trial costs about as much
        return time.monotonic() + estimate <= deadline

    config, best, kept, stopped = coordinate_search(config, best, evaluate, time_left)
    trials = [_kept(t) if t.setting in kept else t for t in trials]
    return Tuned(config, best, start, trials, split.info.to_json(), stopped)


def coordinate_search(
    config: TrainConfig,
    best: float,
    evaluate: Callable[[TrainConfig, str], float],
    time_left: Callable[[], bool],
    knobs: tuple[tuple[str, tuple[Any, ...]], ...] = KNOBS,
) -> tuple[TrainConfig, float, list[str], str]:
    """Each knob in turn, its values tried outwards from the current one; a direction stops at
    the first value that does not beat ``best`` (early stopping). Returns the config, its
    objective, the settings kept in order, and why the search ended."""
    kept: list[str] = []
    for path, values in knobs:
        current = knob_value(config, path)
        if current not in values:
            values = (*values, current)
        at = values.index(current)
        for direction in (1, -1):
            position = at + direction
            while 0 <= position < len(values):
                if not time_left():
                    return config, best, kept, "the time budget ran out"
                candidate = with_knob(config, path, values[position])
                setting = f"{path}={json.dumps(values[position])}"
                objective = evaluate(candidate, setting)
                if objective <= best:
                    break
                config, best = candidate, objective
                kept.append(setting)
                position += direction
    return config, best, kept, "every knob was searched"


def _trial(
    split: Split, pairs: TestPairs, config: TrainConfig, setting: str, trials: list[Trial],
    kept: bool = False,
) -> float:  # fmt: skip
    started = time.perf_counter()
    models = fit(split.train, config.model_copy(update={"no_interaction": False}), False)
    objective = view_objective(models, split, pairs, config)
    seconds = time.perf_counter() - started
    trials.append(Trial(setting, round(objective, 6), models.pairs.epochs, round(seconds, 1), kept))
    log.info("tune %s: %.5f (%.0fs)", setting or "start", objective, seconds)
    return objective


def _kept(trial: Trial) -> Trial:
    return Trial(trial.setting, trial.objective, trial.epochs, trial.seconds, True)


def knob_value(config: TrainConfig, path: str) -> Any:
    """The value of ``section.field[.key]`` in ``config``."""
    section, field, *key = _parts(config, path)
    value = getattr(getattr(config, section), field)
    return value[key[0]] if key else value


def with_knob(config: TrainConfig, path: str, value: Any) -> TrainConfig:
    """``config`` with ``section.field`` (or ``section.field.key`` of a dict field) set."""
    section, field, *key = _parts(config, path)
    if key:
        value = {**dict(getattr(getattr(config, section), field)), key[0]: value}
    return config.with_overrides({section: {field: value}})


def parse_setting(config: TrainConfig, text: str) -> TrainConfig:
    """``config`` with every ``path=value`` of a comma-separated setting applied."""
    parts = re.split(r",(?![^\[]*\])", text)  # commas inside [...] belong to a list value
    for assignment in filter(None, (part.strip() for part in parts)):
        path, sep, raw = assignment.partition("=")
        if not sep:
            raise KnobError(f"{assignment!r}: expected path=value")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        config = with_knob(config, path.strip(), value)
    return config


def _parts(config: TrainConfig, path: str) -> list[str]:
    parts = path.split(".")
    if len(parts) not in (2, 3) or not hasattr(config, parts[0]):
        raise KnobError(f"{path!r}: expected section.field or section.field.key")
    if not hasattr(getattr(config, parts[0]), parts[1]):
        raise KnobError(f"{path!r}: {parts[0]} has no field {parts[1]!r}")
    return parts


def write_tuned(tuned: Tuned, out: Path, command: str) -> tuple[Path, Path]:
    """``out`` (TOML: what differs from the defaults, figures as comments) and its trace."""
    changed = _differences(TrainConfig().model_dump(mode="json"),
                           tuned.config.model_dump(mode="json"))  # fmt: skip
    kept = [t.setting for t in tuned.trials if t.kept and t.setting]
    header = [
        f"# Written by: {command}",
        f"# Validation split: {tuned.validation['cutoff']} .. {tuned.validation['test_end']}"
        f" ({tuned.validation['test_sessions']} sessions), never the test window.",
        f"# Objective (view-interaction hit rate, mean over view/cart/purchase and K ="
        f" {'/'.join(map(str, OBJECTIVE_KS))}): {100 * tuned.objective:.3f} %"
        f" (start {100 * tuned.start_objective:.3f} %), {len(tuned.trials)} trials;"
        f" {tuned.stopped}.",
        f"# Kept, in order: {', '.join(kept) or 'nothing beat the start'}.",
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(header) + tomli_w.dumps(changed), encoding="utf-8")
    trace = out.with_suffix(".trace.json")
    record = {"objective": tuned.objective, "start_objective": tuned.start_objective,
              "validation": tuned.validation, "stopped": tuned.stopped,
              "objective_ks": list(OBJECTIVE_KS), "trials": [asdict(t) for t in tuned.trials],
              "config": tuned.config.model_dump(mode="json")}  # fmt: skip
    trace.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return out, trace


def _differences(default: dict[str, Any], chosen: dict[str, Any]) -> dict[str, Any]:
    """The sections and fields of ``chosen`` that differ from ``default`` (None values dropped:
    TOML has no null)."""
    out: dict[str, Any] = {}
    for section, fields in chosen.items():
        if not isinstance(fields, dict):
            if fields != default.get(section) and fields is not None:
                out[section] = fields
            continue
        diff = {k: v for k, v in fields.items() if v != default[section].get(k) and v is not None}
        if diff:
            out[section] = diff
    return out
