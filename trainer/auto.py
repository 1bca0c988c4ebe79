"""What train and evaluate choose by themselves, on a validation split of the training window.

No single number of epochs fits every log (5 leaves a sparse log's vectors near their random
start; 80 over-fits a dense one), and whether a seed's neighbours beat its category's best
sellers depends on the log too. So, before the real training, ``choose``:

1. carves a validation split from the events it is given — the last ``auto.validation_days``
   of them, by the evaluation's rule (trainer/evaluation/split.py); ``evaluate`` gives it its
   training window only, so the test window is never looked at;
2. when ``sgns.epochs = "auto"``, walks the validation curve: it trains the pair model at the
   corpus-size starting point (``sgns.auto_passes`` over the mean pair token's occurrences,
   trainer/sgns.py), then doubles the epochs while the validation hit rate improves, or halves
   them if the first doubling did not help, stopping at the first step that does not improve
   (early stopping) or when the next training would pass ``auto.budget_minutes``;
3. with the chosen model, learns the blend rule of the served modules
   (trainer/evaluation/served.py) on the same validation pairs.

The result is a config with integer epochs, the blend rule and a record of why: the
manifest's ``chosen`` and ``blend``. A log too short or too thin for a split keeps the
starting point and no rule, and the record says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from contracts.blend import BlendRule
from contracts.interactions import Interaction
from trainer.config import TrainConfig
from trainer.evaluation.generators import (
    EmbeddingGenerator,
    embeddings_of,
)
from trainer.evaluation.metrics import TestPairs, build_test_pairs, hit_rates
from trainer.evaluation.served import (
    BLEND_KS,
    learn_blend,
    mean_over_targets,
    served_path,
)
from trainer.evaluation.split import Split, SplitError, time_split
from trainer.events import EventLog
from trainer.fit import Models, fit
from trainer.sgns import train_sgns
from trainer.vocab import encode_items

log = logging.getLogger("trainer.auto")

OBJECTIVE_KS = (50, 100, 200)  # the validation objective: mean hit rate over these and TARGETS


@dataclass(frozen=True)
class Choice:
    """The config to train with, the served modules' blend rule and why they were chosen."""

    config: TrainConfig
    blend: BlendRule | None
    record: dict[str, Any] = field(default_factory=dict)


def choose(event_log: EventLog, config: TrainConfig, progress: bool = True) -> Choice:
    """Resolve ``sgns.epochs = "auto"`` and learn the blend rule on a validation split."""
    auto = config.sgns.epochs == "auto"
    if not auto and not config.auto.blend:
        return Choice(config, None, {})
    started = time.perf_counter()
    try:
        split = validation_split(event_log, config)
    except NoValidationError as exc:
        log.warning("no validation split (%s): epochs from the corpus size, no blend rule", exc)
        return Choice(config, None, {"validation": None, "why": str(exc)})
    pairs, items = validation_pairs(split, config)
    record: dict[str, Any] = {
        "validation": split.info.to_json(),
        "validation_pairs": len(pairs),
        "validation_items": items,
    }
    if auto:
        models, curve = epoch_curve(split, pairs, config, progress)
        epochs = models.pairs.epochs
        config = config.with_overrides({"sgns": {"epochs": epochs}})
        record["epochs"] = {"chosen": epochs, "curve": curve, "objective_ks": OBJECTIVE_KS,
                            "why": _why(curve, epochs)}  # fmt: skip
        log.info("epochs: %d (validation curve %s)", epochs, _curve_text(curve))
    else:
        models = fit(split.train, config.model_copy(update={"no_interaction": False}), progress)
    blend = None
    if config.auto.blend:
        blend = blend_on(split, pairs, models, config, progress)
        record["blend"] = "learned on the validation split (manifest blend.chosen_on)"
    record["seconds"] = round(time.perf_counter() - started, 1)
    return Choice(config, blend, record)


def blend_on(
    split: Split, pairs: TestPairs, models: Models, config: TrainConfig, progress: bool
) -> BlendRule:
    """The blend rule of ``models`` (pair model; its item model is trained here if needed)."""
    train = split.train
    items = models.items
    if items is None and config.no_interaction:
        corpus = encode_items(models.sessions, models.vocab, train)
        items = train_sgns(corpus, config.sgns, progress=progress, desc="items")
    query = np.unique(pairs.item)
    neighbours, backfill = served_path(models, train, train, config, query, max(BLEND_KS), items)
    return learn_blend(neighbours, backfill, pairs)


def view_objective(models: Models, split: Split, pairs: TestPairs, config: TrainConfig) -> float:
    """Mean validation hit rate of the view-interaction model over TARGETS and OBJECTIVE_KS."""
    pair_emb, _ = embeddings_of(models, split.train)
    generator = EmbeddingGenerator(
        pair_emb, len(split.train.item_ids), Interaction.VIEW, None, config.index.similarity,
        threads=config.sgns.threads,
    )  # fmt: skip
    candidates = generator.candidates(np.unique(pairs.item), max(OBJECTIVE_KS))
    rates = hit_rates(pairs, candidates, OBJECTIVE_KS)
    return float(np.mean([mean_over_targets(rates, k) for k in OBJECTIVE_KS]))


class NoValidationError(ValueError):
    """The log is too short or too thin to carve a validation split from."""


def validation_split(event_log: EventLog, config: TrainConfig) -> Split:
    """The last ``auto.validation_days`` of ``event_log`` as a validation split."""
    try:
        split = time_split(event_log, config.auto.validation_days, config.sessions)
    except SplitError as exc:
        raise NoValidationError(str(exc)) from exc
    n_pairs = len(build_test_pairs(split.test))
    if n_pairs < config.auto.min_validation_pairs:
        raise NoValidationError(
            f"{n_pairs} validation pairs in the last {config.auto.validation_days:g} days, "
            f"fewer than auto.min_validation_pairs = {config.auto.min_validation_pairs}"
        )
    return split


def validation_pairs(split: Split, config: TrainConfig) -> tuple[TestPairs, dict[str, int]]:
    """The validation pairs scored: those of a seeded sample of ``auto.max_validation_items``
    query items (TestPairs.sample_items), and how many items that is of how many."""
    every = build_test_pairs(split.test)
    pairs = every.sample_items(config.auto.max_validation_items, config.sgns.seed)
    return pairs, {"scored": pairs.n_items, "of": every.n_items}


def epoch_curve(
    split: Split, pairs: TestPairs, config: TrainConfig, progress: bool
) -> tuple[Models, list[dict[str, float]]]:
    """Walk the validation curve from the starting point (module doc); the best model and
    every step (epochs, objective, seconds)."""
    base = config.model_copy(update={"no_interaction": False})
    curve: list[dict[str, float]] = []
    best: list[Models] = []  # the best model so far alone: a worse one is freed at once

    def run(epochs: int | str) -> float:
        started = time.perf_counter()
        models = fit(split.train, base.with_overrides({"sgns": {"epochs": epochs}}), progress)
        objective = view_objective(models, split, pairs, base)
        seconds = time.perf_counter() - started
        if not curve or objective > max(c["objective"] for c in curve):
            best[:] = [models]
        curve.append({"epochs": models.pairs.epochs, "objective": round(objective, 6),
                      "seconds": round(seconds, 1)})  # fmt: skip
        log.info("validation: %d epochs → %.5f (%.0fs)", models.pairs.epochs, objective, seconds)
        return objective

    first = run("auto")
    start = int(curve[0]["epochs"])
    per_epoch = curve[0]["seconds"] / start
    budget = config.auto.budget_minutes * 60.0

    def affordable(epochs: int) -> bool:
        return sum(c["seconds"] for c in curve) + per_epoch * epochs <= budget

    epochs = walk_epochs(start, first, run, config.sgns.auto_max_epochs, affordable)
    assert best[0].pairs.epochs == epochs
    return best[0], curve


def walk_epochs(
    start: int,
    objective: float,
    run: Callable[[int], float],
    max_epochs: int,
    affordable: Callable[[int], bool],
) -> int:
    """The best epochs found from ``start`` (whose objective is given): doubling while the
    objective improves; if the first doubling does not, halving while it improves. Each
    direction stops at the first step that does not improve (early stopping), or that
    ``affordable`` refuses; epochs stay in 1..``max_epochs``."""
    best, best_objective = start, objective
    for factor in (2.0, 0.5):
        epochs = start
        while True:
            step = int(np.clip(round(epochs * factor), 1, max_epochs))
            if step == epochs or not affordable(step):
                break
            result = run(step)
            if result <= best_objective:
                break
            best, best_objective, epochs = step, result, step
        if best != start:  # going up helped: no need to look down
            break
    return best


def _why(curve: list[dict[str, float]], epochs: int) -> str:
    start = int(curve[0]["epochs"])
    if epochs == start:
        return f"the starting point {start} (corpus size) was not beaten on validation"
    way = "more" if epochs > start else "fewer"
    return (
        f"validation hit rate rose with {way} epochs, from {start} to {epochs}, "
        "then stopped improving"
    )


def _curve_text(curve: list[dict[str, float]]) -> str:
    return ", ".join(f"{int(c['epochs'])}: {100 * c['objective']:.2f}" for c in curve)
