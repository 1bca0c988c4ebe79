"""Does scoring validation on a sample of query items choose what scoring all of them chooses?

    python bench/choose_sample.py --events /tmp/train-scale/events-400000u.parquet \
        [--samples 5000,20000] [--out bench/results/choose_sample.json]

``choose`` (trainer/auto.py) scores each validation step with exact top-k over every item for
each query item, so scoring all of them grows with items², and ``auto.max_validation_items``
caps the queries at a seeded sample. On one log this measures, for all queries and for each
sample size:

1. **epochs**: the pair model is trained at the starting point and at 2× and ½× it; each
   model's validation objective (the mean hit rate ``choose`` maximises) on all pairs and on
   each sample, and so which epochs each would pick, with the scoring time;
2. **blend rule**: with the starting-point model, the rule learned on all pairs and on each
   sample, each then scored on *all* validation pairs (the served hit rate at every K, mean
   over targets), with the learning time.

Prints a table and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from trainer.auto import blend_on, validation_split, view_objective
from trainer.config import TrainConfig
from trainer.evaluation.metrics import TestPairs, build_test_pairs, hit_rates
from trainer.evaluation.served import (
    BLEND_KS,
    ServedGenerator,
    mean_over_targets,
    served_path,
)
from trainer.events import load_events
from trainer.fit import Models, fit
from trainer.sgns import train_sgns
from trainer.vocab import encode_items

ROOT = Path(__file__).resolve().parent.parent


def timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, round(time.perf_counter() - started, 1)


def served_rates(
    models: Models, split: Any, pairs: TestPairs, config: TrainConfig, rule: Any
) -> list[float]:
    """The served hit rate (mean over targets) at each BLEND_KS of ``rule`` on ``pairs``."""
    query = np.unique(pairs.item)
    neighbours, backfill = served_path(
        models, split.train, split.train, config, query, max(BLEND_KS)
    )
    generator = ServedGenerator(neighbours, backfill, rule)
    out = []
    for k in BLEND_KS:
        rates = hit_rates(pairs, generator.candidates(query, k), (k,))
        out.append(round(mean_over_targets(rates, k), 5))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--samples", default="5000,20000", help="Comma-separated sample sizes.")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/choose_sample.json")
    args = parser.parse_args()
    config = TrainConfig()
    base = config.model_copy(update={"no_interaction": False})  # the epoch curve's models
    event_log = load_events(args.events, config.data, progress=False)
    split = validation_split(event_log, config)
    del event_log
    every = build_test_pairs(split.test)
    variants: dict[str, TestPairs] = {"all": every}
    for size in (int(s) for s in args.samples.split(",")):
        variants[str(size)] = every.sample_items(size, config.sgns.seed)
    sizes = {name: {"items": p.n_items, "pairs": len(p)} for name, p in variants.items()}
    print("validation items/pairs:", sizes, flush=True)

    epochs_rows: list[dict[str, Any]] = []
    start_models: Models | None = None
    start = 0
    for epochs in ("auto", "double", "half"):
        if epochs == "auto":
            models = fit(split.train, base, progress=False)
            start = models.pairs.epochs
            start_models = models
        else:
            e = 2 * start if epochs == "double" else max(1, start // 2)
            if e == start:
                continue
            models = fit(split.train, base.with_overrides({"sgns": {"epochs": e}}), False)
        row: dict[str, Any] = {"epochs": models.pairs.epochs}
        for name, pairs in variants.items():
            objective, seconds = timed(lambda p=pairs, m=models: view_objective(m, split, p, base))
            row[name] = {"objective": round(objective, 5), "seconds": seconds}
        epochs_rows.append(row)
        print(row, flush=True)
    picks = {
        name: max(epochs_rows, key=lambda r, n=name: r[n]["objective"])["epochs"]
        for name in variants
    }
    print("epochs picked:", picks, flush=True)

    assert start_models is not None
    corpus = encode_items(start_models.sessions, start_models.vocab, split.train)
    items = train_sgns(corpus, config.sgns, progress=False, desc="items")
    start_models = replace(start_models, items=items)  # one item model for every rule
    blend: dict[str, Any] = {}
    for name, pairs in variants.items():
        rule, seconds = timed(lambda p=pairs: blend_on(split, p, start_models, config, False))
        on_all = served_rates(start_models, split, every, config, rule)
        blend[name] = {"seconds": seconds, "served_on_all_pairs": on_all,
                       "thresholds": rule.thresholds}  # fmt: skip
        print(name, "blend", seconds, "s; served hit rate on all pairs at", BLEND_KS, on_all,
              flush=True)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(
        {"events": str(args.events), "sizes": sizes, "epochs": epochs_rows, "picked": picks,
         "blend": blend}, indent=2, default=str) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
