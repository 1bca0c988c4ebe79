"""What an evaluation found, as typed values, and its ``metrics.json`` form.

``metrics.json`` is read by checks outside the project and by the service's maintainers, so
its shape is a contract::

    {"split": {...}, "data": {...},
     "load": {"path": str, "rows_read": int, "rows_kept": int, "bad_rows_total": int,
              "bad_rows": {"<reason>": {"count": int, "first_lines": [int, ...]}},
              "ignored": {"<interaction>": int}, "out_of_window": int,
              "numbering": "line" | "row"} | null,
     "models": {"<model>": {"hit_rate": {"<target>": {"<K>": float}},
                            "hit_rate_ci": {"<target>": {"<K>": [lo, hi]}},
                            "hit_rate_seen": {...}, "hit_rate_seen_ci": {...},
                            "coverage": {"items": f, "traffic": f},
                            "pairs": {"<target>": int}, "pairs_seen": {...},
                            "pairs_hit": {"<target>": int},
                            "candidate_seconds": f, "train_seconds": f | null}},
     "interaction_matrix": {"<X>": {"<Y>": {"hit_rate": ..., "pairs": ...}}},
     "best_target": {"<X>": "<Y>"},  "dims": {"<d>": {"<model>": {...}}},
     "ablations": {"<variant>": {"<model>": {...}}}, "gensim_check": {...} | null,
     "versus_no_interaction": {"<model>": {"<target>": {"<K>": {"difference": f,
                                                               "ci": [lo, hi]}}}},
     "timings": {...}}

Targets are ``view``, ``cart``, ``purchase``; K are strings of integers; Y ``any`` means all
of the model's pair vectors (an item stands for its best pair). ``[lo, hi]`` is the 95 %
percentile-bootstrap interval over the test pairs (``intervals.py``). ``bad_rows`` holds the
rows the loader skipped, per reason; ``first_lines`` are the line (Parquet: row) numbers of
that reason among the file's first bad rows (``trainer.events.MAX_EXAMPLES`` in all), so a
rare late reason may list none. ``gensim_check`` is ``{"target", "k", "runs", "pairs",
"ours", "gensim", "difference", "difference_ci": [lo, hi], "relative_gap", "passes"}``.
``versus_no_interaction`` is each model's hit rate minus no-interaction's, with its 95 % paired
bootstrap interval (``Difference``): the test behind Table 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from contracts.blend import BlendRule
from trainer.config import TrainConfig
from trainer.evaluation.intervals import LEVEL, percentile_interval
from trainer.evaluation.metrics import Coverage, HitRates
from trainer.evaluation.split import SplitInfo
from trainer.events import LoadReport

SERVICE_K = 100  # the service's default k: the K at which best_target is chosen
GENSIM_TARGET = "purchase"
BASELINE = "no-interaction"  # the paper's reference in Table 1


@dataclass(frozen=True)
class Difference:
    """A model's hit rate minus the baseline's on the same test pairs, with the 95 % paired
    bootstrap interval of that difference (both scored on the same resamples). Paired, it is
    much narrower than the two models' own intervals side by side: what varies from one test
    day to another moves both models alike."""

    difference: float
    ci: tuple[float, float]

    @property
    def significant(self) -> bool:
        """The interval excludes 0."""
        return self.ci[0] > 0 or self.ci[1] < 0

    def to_json(self) -> dict[str, Any]:
        return {"difference": round(self.difference, 6), "ci": [round(b, 6) for b in self.ci]}


def paired_differences(
    models: dict[str, ModelResult], baseline: str = BASELINE
) -> dict[str, dict[str, dict[int, Difference]]]:
    """model → target → K → its Difference to ``baseline`` (every model scored on the same
    test pairs with intervals; none without the baseline or without resamples)."""
    base = models.get(baseline)
    if base is None or not base.hit.resampled:
        return {}
    found: dict[str, dict[str, dict[int, Difference]]] = {}
    for name, result in models.items():
        if name == baseline or not result.hit.resampled:
            continue
        found[name] = {}
        for target, by_k in result.hit.hit_rate.items():
            found[name][target] = {}
            for k, rate in by_k.items():
                on = result.hit.on_resamples(target, k) - base.hit.on_resamples(target, k)
                lo, hi = percentile_interval(on[:, None])[:, 0]
                difference = rate - base.hit.hit_rate[target][k]
                found[name][target][k] = Difference(difference, (float(lo), float(hi)))
    return found


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
            "hit_rate_ci": _intervals(self.hit),
            "hit_rate_seen": _rates(self.seen),
            "hit_rate_seen_ci": _intervals(self.seen),
            "coverage": {"items": self.coverage.items, "traffic": self.coverage.traffic},
            "pairs": dict(self.hit.pairs),
            "pairs_seen": dict(self.seen.pairs),
            "pairs_hit": dict(self.hit.pairs_hit),
            "candidate_seconds": round(self.candidate_seconds, 3),
            "train_seconds": None if self.train_seconds is None else round(self.train_seconds, 3),
        }


@dataclass(frozen=True)
class GensimCheck:
    """Our no-interaction model against gensim's Word2Vec on the same corpus and settings.

    The check is on the purchase hit rate at the largest K, over the same test pairs. Each side
    averages its per-pair h over its ``runs`` seeds. The 95 % interval of ours − gensim is a
    paired bootstrap: both sides are scored on the same resamples of the test pairs. The check
    passes unless ours is significantly worse, i.e. unless the whole interval lies below 0.
    """

    ours: float  # purchase hit rate at K (all pairs), mean over the runs
    gensim: float
    k: int
    runs: int  # seeds averaged on each side
    difference_ci: tuple[float, float]  # 95 % paired bootstrap interval of ours − gensim
    pairs: int = 0  # purchase pairs the rates are over

    @classmethod
    def paired(cls, ours: Sequence[HitRates], gensim: Sequence[HitRates], k: int) -> GensimCheck:
        """From each side's runs, all scored on the same test pairs (so on the same resamples).

        The rate on a resample is linear in the per-pair h and every run averages over the
        same pairs, so averaging the runs' resampled rates is resampling the per-pair mean.
        """
        t = GENSIM_TARGET
        mine = np.mean([r.on_resamples(t, k) for r in ours], axis=0)
        theirs = np.mean([r.on_resamples(t, k) for r in gensim], axis=0)
        lo, hi = percentile_interval((mine - theirs)[:, None])[:, 0]
        return cls(
            ours=float(np.mean([r.hit_rate[t][k] for r in ours])),
            gensim=float(np.mean([r.hit_rate[t][k] for r in gensim])),
            k=k,
            runs=len(gensim),
            difference_ci=(float(lo), float(hi)),
            pairs=ours[0].pairs[t],
        )

    @property
    def difference(self) -> float:
        return self.ours - self.gensim

    @property
    def relative_gap(self) -> float:
        """(ours − gensim) / gensim; 0 when gensim scores 0."""
        return (self.ours - self.gensim) / self.gensim if self.gensim > 0 else 0.0

    @property
    def passes(self) -> bool:
        """The interval contains 0 or lies above it: ours is not significantly worse."""
        return self.difference_ci[1] >= 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "target": GENSIM_TARGET,
            "k": self.k,
            "runs": self.runs,
            "pairs": self.pairs,
            "ours": self.ours,
            "gensim": self.gensim,
            "difference": round(self.difference, 6),
            "difference_ci": [round(b, 6) for b in self.difference_ci],
            "level": LEVEL,
            "relative_gap": round(self.relative_gap, 4),
            "passes": self.passes,
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
    load: LoadReport | None = None  # what reading the event log skipped
    # what the training chose on its validation split (trainer/auto.py), and its blend rule
    chosen: dict[str, Any] = field(default_factory=dict)
    blend: BlendRule | None = None

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
            "load": None if self.load is None else load_json(self.load),
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
            "versus_no_interaction": {
                name: {
                    t: {str(k): d.to_json() for k, d in by_k.items()} for t, by_k in by_t.items()
                }
                for name, by_t in paired_differences(self.models).items()
            },
            "settings": self.settings,
            "config": self.config.model_dump(mode="json"),
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
            "notes": list(self.notes),
            "chosen": self.chosen,
            "blend": None if self.blend is None else self.blend.model_dump(mode="json"),
        }


def load_json(report: LoadReport) -> dict[str, Any]:
    """The load report's counts, and the first line numbers of each bad-row reason."""
    first: dict[str, list[int]] = {}
    for number, reason, _ in report.bad.examples:
        first.setdefault(reason, []).append(number)
    ranked = sorted(report.bad.counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "path": report.path,
        "rows_read": report.rows_read,
        "rows_kept": report.rows_kept,
        "bad_rows_total": report.bad.total,
        "bad_rows": {
            reason: {"count": count, "first_lines": first.get(reason, [])}
            for reason, count in ranked
        },
        "ignored": dict(report.ignored),
        "out_of_window": report.out_of_window,
        "numbering": report.numbering,
    }


def _intervals(rates: HitRates) -> dict[str, dict[str, list[float]]]:
    return {
        t: {str(k): [round(lo, 6), round(hi, 6)] for k, (lo, hi) in by_k.items()}
        for t, by_k in rates.interval.items()
    }


def _rates(rates: HitRates) -> dict[str, dict[str, float]]:
    return {t: {str(k): round(v, 6) for k, v in by_k.items()} for t, by_k in rates.hit_rate.items()}
