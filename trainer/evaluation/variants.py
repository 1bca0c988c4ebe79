"""The evaluation's variants of the main config: the ablation table (the paper's custom
negatives off, the blog's extensions on the paper's model, alone and together) and the
dimension sweep (Table 3), each retrained on the same split and scored by the same ``Scorer``.
"""

from __future__ import annotations

from typing import Any

from contracts.interactions import Interaction
from trainer.config import TrainConfig
from trainer.evaluation.generators import (
    embeddings_of,
)
from trainer.evaluation.results import (
    ModelResult,
)
from trainer.evaluation.scorer import EvalOptions, Scorer, train_seconds_of, with_train_seconds
from trainer.evaluation.split import Split
from trainer.events import EventLog
from trainer.fit import Models, fit

JOURNEY_WEIGHTS = {"view": 1.0, "favorite": 1.25, "cart": 1.5, "purchase": 2.0}
JOURNEYS = {"purchase_context": True, "weights": JOURNEY_WEIGHTS, "purchase_session_weight": 2.0}
PAPER: dict[str, dict[str, Any]] = {"negatives": {"implicit": False}, "entities": {"kinds": []}}
"""The paper's model: the main config without the blog's extensions (journeys are off)."""


def _on_paper(extension: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s: {**PAPER.get(s, {}), **extension.get(s, {})} for s in {*PAPER, *extension}}


ABLATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "hierarchy off": {"negatives": {"hierarchy": False}},
    "taxonomy off": {"negatives": {"taxonomy": False}},
    "both off": {"negatives": {"hierarchy": False, "taxonomy": False}},
    # the blog's extensions (issue 6) on the paper's model, alone and together
    "paper's model": PAPER,
    "paper + purchase context": _on_paper({"journeys": {"purchase_context": True}}),
    "paper + weights": _on_paper(
        {"journeys": {"weights": JOURNEY_WEIGHTS, "purchase_session_weight": 2.0}}
    ),
    "paper + both journeys": _on_paper({"journeys": JOURNEYS}),
    "paper + implicit negatives": _on_paper({"negatives": {"implicit": True}}),
    "paper + category tokens": _on_paper({"entities": {"kinds": ["category"]}}),
    "paper + query & shop tokens": _on_paper({"entities": {"kinds": ["query", "shop"]}}),
    "paper + all extensions": {
        "journeys": JOURNEYS,
        "negatives": {"implicit": True},
        "entities": {"kinds": ["query", "category", "shop"]},
    },
}
"""Variants of the main config retrained for the ablation table: section → field overrides."""
NEEDS = {"paper + implicit negatives": "impressions", "paper + query & shop tokens": "entities"}
"""What a variant needs from the log, without which it only retrains the paper's model."""


def sweep_dim(
    dim: int,
    split: Split,
    main: Models,
    main_results: dict[str, ModelResult],
    scorer: Scorer,
    config: TrainConfig,
    options: EvalOptions,
) -> dict[str, ModelResult]:
    """The view-interaction and no-interaction models at dimension ``dim`` (Table 3)."""
    if dim == config.sgns.dim:
        return {name: main_results[name] for name in ("view-interaction", "no-interaction")}
    cfg = config.with_overrides({"sgns": {"dim": dim}})
    models = fit(split.train, cfg, options.progress)
    pair_emb, item_emb = embeddings_of(models, split.train)
    train_s = train_seconds_of(models)
    out = {"view-interaction": scorer.score(scorer.embedding(pair_emb, cfg, Interaction.VIEW))}
    out["view-interaction"] = with_train_seconds(out["view-interaction"], train_s["pairs"])
    if item_emb is not None:
        result = scorer.score(scorer.embedding(item_emb, cfg, None))
        out["no-interaction"] = with_train_seconds(result, train_s["items"])
    return out


def missing_data(variant: str, event_log: EventLog) -> str | None:
    """What ``variant`` needs (NEEDS) and the log lacks, as a column name; None: nothing."""
    need = NEEDS.get(variant)
    if need == "impressions" and event_log.impressions is None:
        return "impressions column"
    if need == "entities" and event_log.query is None and event_log.shop is None:
        return "query or shop_id column"
    return None


def ablate(
    overrides: dict[str, dict[str, Any]],
    split: Split,
    event_log: EventLog,
    scorer: Scorer,
    config: TrainConfig,
    options: EvalOptions,
) -> dict[str, ModelResult]:
    """The pair model retrained with ``overrides`` (negatives off, journey extensions on)."""
    cfg = config.with_overrides(overrides)
    cfg = cfg.model_copy(update={"no_interaction": False})
    models = fit(split.train, cfg, options.progress)
    pair_emb, _ = embeddings_of(models, event_log)
    seconds = models.pairs.seconds
    return {
        f"{name}-interaction": with_train_seconds(
            scorer.score(scorer.embedding(pair_emb, cfg, interaction)), seconds
        )
        for name, interaction in (("view", Interaction.VIEW), ("cart", Interaction.CART))
    }
