"""Compare finalist settings on a validation split — never on the test window.

    python -m trainer.evaluation.tuning --events FILE --out DIR --seeds 2 \\
        --try "" --try "vocab.min_count.view=1,index.similarity=inner_product"

The validation split is the evaluation's split applied to the *training* events only: with a
one-day test window, train on days 1..n−2 and validate on day n−1. Each given setting
(comma-separated ``section.field[.key]=value``, "" for the defaults) is run with ``--seeds``
seeds and the mean reported: the finalists' check behind the defaults argued in
docs/experiments.md. The search itself is ``python -m trainer tune`` (trainer/tune.py);
``--copurchase-windows`` scores the co-purchase baseline's windows too.

The objective is the view-interaction model's hit rate@200 averaged over the three targets
(all pairs): the purchase target alone has too few pairs on a small validation day to rank
settings, and view-interaction is what the service's "viewed" module runs. Results go to
``DIR/tuning.json`` and ``DIR/tuning.md``; the defaults chosen across datasets are argued in
docs/experiments.md and set in ``trainer/config.py``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from contracts.interactions import Interaction
from trainer import logs
from trainer.adapters import ADAPTERS
from trainer.config import TrainConfig, load_config
from trainer.evaluation.copurchase import copurchase_generator
from trainer.evaluation.generators import embeddings_of
from trainer.evaluation.metrics import TARGETS, build_test_pairs
from trainer.evaluation.scorer import EvalOptions, Scorer
from trainer.evaluation.split import Split, seen_items, time_split
from trainer.evaluation.structure import neighbour_structure
from trainer.events import EventLog, load_events
from trainer.fit import fit
from trainer.tune import KnobError, parse_setting

log = logging.getLogger("trainer.evaluation.tuning")

K = 200
COPURCHASE_WINDOWS_HOURS = (1.0, 24.0, 72.0, float("inf"))  # inf: the whole training period
_OPTIONS = EvalOptions(ks=(K,), progress=False)


@dataclass(frozen=True)
class Trial:
    """One setting's validation scores (hit rate@K, all pairs), averaged over its seeds."""

    setting: str
    objective: float
    view_interaction: dict[str, float]
    cart_interaction: dict[str, float]
    seeds: int
    seconds: float
    structure: dict[str, dict[str, float]]  # neighbour shares of the first seed's model


def validation_split(event_log: EventLog, test_days: float, config: TrainConfig) -> Split:
    """The split of the training part of the evaluation's split: the test window unseen."""
    outer = time_split(event_log, test_days, config.sessions)
    return time_split(outer.train, test_days, config.sessions)


def trial(split: Split, config: TrainConfig, setting: str, seeds: int = 1) -> Trial:
    """Train the pair model with ``config`` (seeds ``seed``, ``seed + 1``, …) and score it."""
    started = time.perf_counter()
    pairs = build_test_pairs(split.test)
    runs: list[dict[str, dict[str, float]]] = []
    structure: dict[str, dict[str, float]] = {}
    for offset in range(seeds):
        cfg = config.with_overrides({"sgns": {"seed": config.sgns.seed + offset}})
        models = fit(split.train, cfg.model_copy(update={"no_interaction": False}), False)
        scorer = Scorer(pairs, seen_items(models.sessions), len(split.train.item_ids), _OPTIONS)
        pair_emb, _ = embeddings_of(models, split.train)
        rates = {}
        for name, interaction in (("view", Interaction.VIEW), ("cart", Interaction.CART)):
            result = scorer.score(scorer.embedding(pair_emb, cfg, interaction))
            rates[name] = {t: r[K] for t, r in result.hit.hit_rate.items()}
        runs.append(rates)
        structure = structure or neighbour_structure(models, cfg)
    mean = {
        name: {t.label: float(np.mean([r[name][t.label] for r in runs])) for t in TARGETS}
        for name in ("view", "cart")
    }
    objective = float(np.mean(list(mean["view"].values())))
    seconds = time.perf_counter() - started
    log.info("%s: objective %.5f (%d seeds, %.0fs)", setting, objective, seeds, seconds)
    return Trial(setting, objective, mean["view"], mean["cart"], seeds, seconds, structure)


def score_copurchase_windows(split: Split) -> dict[float, dict[str, float]]:
    """The co-purchase baseline's hit rate@K per window, so it runs at its best setting too."""
    train = split.train
    scorer = Scorer(
        build_test_pairs(split.test), np.unique(train.item), len(train.item_ids), _OPTIONS
    )
    out = {}
    for hours in COPURCHASE_WINDOWS_HOURS:
        generator = copurchase_generator(
            train.user, train.item, train.interaction, train.timestamp, hours * 3600,
            scorer.n_items, K,
        )  # fmt: skip
        out[hours] = {t: r[K] for t, r in scorer.score(generator).hit.hit_rate.items()}
    return out


def _markdown(trials: list[Trial], windows: dict[float, dict[str, float]]) -> str:
    lines = [
        f"Hit rate@{K} (%), all validation pairs; objective = mean of the VI columns.\n",
        "Neighbours (trainer/evaluation/structure.py): same category / complement / popular, %.\n",
        "| setting | seeds | objective | VI view | VI cart | VI purchase | CI purchase "
        "| view → view | cart → cart | s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    for t in trials:
        v, c = t.view_interaction, t.cart_interaction
        shape = [
            " / ".join(
                f"{100 * t.structure[seed][k]:.0f}" for k in ("same", "complement", "popular")
            )
            for seed in ("view", "cart")
        ]
        lines.append(
            f"| {t.setting or 'defaults'} | {t.seeds} | {100 * t.objective:.2f} | "
            f"{100 * v['view']:.2f} | {100 * v['cart']:.2f} | {100 * v['purchase']:.2f} | "
            f"{100 * c['purchase']:.2f} | {shape[0]} | {shape[1]} | {t.seconds:.0f} |"
        )
    if windows:
        lines += ["", "| co-purchase window (h) | view | cart | purchase |"]
        lines.append("| ---: | ---: | ---: | ---: |")
        for hours, r in windows.items():
            cells = " | ".join(f"{100 * r[t.label]:.2f}" for t in TARGETS)
            lines.append(f"| {hours:g} | {cells} |")
    return "\n".join(lines) + "\n"


@click.command()
@click.option("--events", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True)  # fmt: skip
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--adapter", type=click.Choice(list(ADAPTERS)))
@click.option("--config", "config_path",
              type=click.Path(exists=True, dir_okay=False, path_type=Path))  # fmt: skip
@click.option("--test-days", type=float, default=1.0, show_default=True)
@click.option("--try", "settings", multiple=True, metavar="PATH=VALUE[,...]", required=True,
              help="A setting to compare ('' = the defaults); repeatable.")  # fmt: skip
@click.option("--copurchase-windows", is_flag=True, help="Also score co-purchase's windows.")
@click.option("--seeds", type=click.IntRange(1), default=1, show_default=True)
def main(
    events: Path,
    out: Path,
    adapter: str | None,
    config_path: Path | None,
    test_days: float,
    settings: tuple[str, ...],
    copurchase_windows: bool,
    seeds: int,
) -> None:
    """Compare settings on a validation split (never the test window)."""
    logs.configure(logging.INFO, "text")
    config = load_config(config_path).with_overrides({"data": {"adapter": adapter}})
    split = validation_split(load_events(events, config.data, progress=False), test_days, config)
    log.info("validation split: %s", split.info.to_json())
    record: dict[str, Any] = {"events": str(events), "split": split.info.to_json(), "k": K}
    windows: dict[float, dict[str, float]] = {}
    try:
        candidates = [(s, parse_setting(config, s)) for s in settings]
    except (KnobError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--try") from exc
    trials = [trial(split, cfg, setting, seeds) for setting, cfg in candidates]
    if copurchase_windows:
        windows = score_copurchase_windows(split)
        record["copurchase_windows"] = {str(h): r for h, r in windows.items()}
    record["trials"] = [asdict(t) for t in trials]
    out.mkdir(parents=True, exist_ok=True)
    (out / "tuning.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    (out / "tuning.md").write_text(_markdown(trials, windows), encoding="utf-8")
    click.echo(out / "tuning.json")


if __name__ == "__main__":
    main()
