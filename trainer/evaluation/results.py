"""What an evaluation found, as typed values, and its ``metrics.json`` form.

``metrics.json`` is read by checks outside the project and by the service's maintainers, so
its shape is a contract::

    {"split": {...}, "data": {...},
     "models": {"<model>": {"hit_rate": {"<target>": {"<K>": float}},
                            "hit_rate_seen": {...}, "coverage": {"items": f, "traffic": f},
                            "pairs": {"<target>": int}, "pairs_seen": {...},
                            "pairs_hit": {"<target>": int},
                            "candidate_seconds": f, "train_seconds": f | null}},
     "interaction_matrix": {"<X>": {"<Y>": {"hit_rate": ..., "pairs": ...}}},
     "best_target": {"<X>": "<Y>"},  "dims": {"<d>": {"<model>": {...}}},
     "ablations": {"<variant>": {"<model>": {...}}}, "gensim_check": {...} | null,
     "timings": {...}}

Targets are ``view``, ``cart``, ``purchase``; K are strings of integers; Y ``any`` means all
of the model's pair vectors (an item stands for its best pair).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer.config import TrainConfig
from trainer.evaluation.metrics import Coverage, HitRates
from trainer.evaluation.split import SplitInfo

SERVICE_K = 100  # the service's default k: the K at which best_target is chosen
GENSIM_TOLERANCE = 0.10  # our no-interaction model within ±10 % of gensim, relative


@dataclass(frozen=True)
class ModelResult:
    """One candidate generator's scores on the test pairs."""

    hit: HitRates  # over every distinct test pair with a non-empty H
    seen: HitRates  # over the pairs whose item occurs in the training sessions
    coverage: Coverage
    candidate_seconds: float
    train_seconds: float | None = None  # None: nothing to train (popularity, co-purchase)

    def to_json(self) -> dict[str, Any]:
        return {
            "hit_rate": _rates(self.hit),
            "hit_rate_seen": _rates(self.seen),
            "coverage": {"items": self.coverage.items, "traffic": self.coverage.traffic},
            "pairs": dict(self.hit.pairs),
            "pairs_seen": dict(self.seen.pairs),
            "pairs_hit": dict(self.hit.pairs_hit),
            "candidate_seconds": round(self.candidate_seconds, 3),
            "train_seconds": None if self.train_seconds is None else round(self.train_seconds, 3),
        }


@dataclass(frozen=True)
class GensimCheck:
    """Our no-interaction model against gensim's Word2Vec on the same corpus and settings."""

    ours: float  # purchase hit rate at K (all pairs)
    gensim: float
    k: int
    runs: int  # seeds averaged on each side

    @property
    def relative_gap(self) -> float:
        """(ours − gensim) / gensim; 0 when gensim scores 0."""
        return (self.ours - self.gensim) / self.gensim if self.gensim > 0 else 0.0

    @property
    def within_tolerance(self) -> bool:
        return abs(self.relative_gap) <= GENSIM_TOLERANCE

    def to_json(self) -> dict[str, Any]:
        return {
            "target": "purchase",
            "k": self.k,
            "ours": self.ours,
            "gensim": self.gensim,
            "relative_gap": round(self.relative_gap, 4),
            "tolerance": GENSIM_TOLERANCE,
            "within_tolerance": self.within_tolerance,
            "runs": self.runs,
        }


@dataclass(frozen=True)
class EmbeddingSample:
    """A sample of pair input vectors for the figure-2 projection."""

    vectors: np.ndarray  # float32 (n, d)
    interaction: np.ndarray  # int8 (n,)


@dataclass(frozen=True)
class Evaluation:
    """Everything the report, ``metrics.json`` and the plots are made from."""

    title: str
    command: str
    split: SplitInfo
    data: dict[str, Any]
    config: TrainConfig
    ks: tuple[int, ...]
    models: dict[str, ModelResult]
    matrix: dict[str, dict[str, HitRates]] = field(default_factory=dict)
    dims: dict[int, dict[str, ModelResult]] = field(default_factory=dict)
    ablations: dict[str, dict[str, ModelResult]] = field(default_factory=dict)
    gensim_check: GensimCheck | None = None
    timings: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # the evaluation's own options
    sample: EmbeddingSample | None = None
    notes: tuple[str, ...] = ()

    def best_target(self, k: int = SERVICE_K) -> dict[str, str]:
        """For each seed interaction X, the Y whose index finds the most later purchases at k.

        An X whose every Y scores 0 is left out: there is no evidence to choose by.
        """
        best = {}
        for x, row in self.matrix.items():
            scored = {y: r.hit_rate["purchase"].get(k, 0.0) for y, r in row.items() if y != "any"}
            if scored and max(scored.values()) > 0:
                best[x] = max(scored, key=lambda y: scored[y])
        return best

    def to_json(self) -> dict[str, Any]:
        return {
            "split": self.split.to_json(),
            "data": self.data,
            "ks": list(self.ks),
            "models": {name: r.to_json() for name, r in self.models.items()},
            "interaction_matrix": {
                x: {y: {"hit_rate": _rates(r), "pairs": dict(r.pairs)} for y, r in row.items()}
                for x, row in self.matrix.items()
            },
            "best_target": self.best_target(),
            "best_target_k": SERVICE_K,
            "dims": {
                str(d): {name: r.to_json() for name, r in models.items()}
                for d, models in self.dims.items()
            },
            "ablations": {
                variant: {name: r.to_json() for name, r in models.items()}
                for variant, models in self.ablations.items()
            },
            "gensim_check": None if self.gensim_check is None else self.gensim_check.to_json(),
            "settings": self.settings,
            "config": self.config.model_dump(mode="json"),
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
            "notes": list(self.notes),
        }


def _rates(rates: HitRates) -> dict[str, dict[str, float]]:
    return {t: {str(k): round(v, 6) for k, v in by_k.items()} for t, by_k in rates.hit_rate.items()}
