"""Scoring on one test set: every generator over the same distinct test pairs, queries and K.

``Scorer`` turns a candidate generator into a ``ModelResult`` (hit rates with intervals, the
same over items seen in training, coverage); the embedding models' generators are built here so
that the main run, the variants, ``evaluate --artifacts`` and ``tune`` score them alike; and the
"because you X this, you may Y that" matrix.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from contracts.interactions import Interaction
from trainer.config import TrainConfig
from trainer.evaluation.generators import (
    CandidateGenerator,
    CategoryVectors,
    EmbeddingGenerator,
    Embeddings,
    SearchKind,
)
from trainer.evaluation.metrics import (
    KS,
    PairHits,
    TestPairs,
    coverage,
    hit_rates,
    pair_hits,
)
from trainer.evaluation.results import (
    ModelResult,
)
from trainer.fit import Models

COLD_VIEW, COLD_ITEMS = "view-interaction + cold items", "no-interaction + cold items"
COLD_TOKEN = "view-interaction + cold items by category token"
MATRIX_TARGETS: tuple[Interaction | None, ...] = (*Interaction, None)  # None: "any"


@dataclass(frozen=True)
class EvalOptions:
    """How to evaluate (the model hyper-parameters are the TrainConfig's)."""

    test_days: float = 1.0
    ks: tuple[int, ...] = KS
    sweep_dims: tuple[int, ...] = ()
    ablations: bool = True
    gensim: bool = True
    gensim_runs: int = 1  # seeds averaged on both sides of the gensim check
    matrix: bool = True
    # None: the whole training period, like Amazon's item-to-item; the longest window scored
    # best on both validation splits (docs/experiments.md), so the baseline runs at its best.
    copurchase_window_hours: float | None = None
    search: SearchKind = "exact"
    progress: bool = True
    command: str = ""

    def settings(self) -> dict[str, Any]:
        """What the report records of these options."""
        return {
            "test_days": self.test_days,
            "ks": list(self.ks),
            "copurchase_window_hours": self.copurchase_window_hours,
            "search": self.search,
            "gensim_runs": self.gensim_runs,
        }


class Scorer:
    """Scores generators on one test set: the same pairs, queries and K for every model."""

    def __init__(self, pairs: TestPairs, seen: np.ndarray, n_items: int, options: EvalOptions):
        self.pairs = pairs
        self.query = np.unique(pairs.event_item)
        self.seen_mask = np.isin(pairs.item, seen)
        self.n_items = n_items
        self.options = options

    def score(
        self, generator: CandidateGenerator, train_seconds: float | None = None
    ) -> ModelResult:
        started = time.perf_counter()
        k = max(self.options.ks)
        candidates = generator.candidates(self.query, k, self.options.progress)
        seconds = time.perf_counter() - started
        ks = self.options.ks
        return ModelResult(
            hit=hit_rates(self.pairs, candidates, ks),
            seen=hit_rates(self.pairs, candidates, ks, mask=self.seen_mask),
            coverage=coverage(self.pairs, candidates),
            candidate_seconds=seconds,
            train_seconds=train_seconds,
        )

    def score_each_k(
        self, generator: CandidateGenerator, train_seconds: float | None = None
    ) -> ModelResult:
        """``score`` for a generator whose list at K is not the prefix of its list at a larger
        K (``served``: the blend threshold depends on K): each K is scored on its own list."""
        started = time.perf_counter()
        ks = self.options.ks
        lists = [generator.candidates(self.query, k, self.options.progress) for k in ks]
        seconds = time.perf_counter() - started
        per_k = [pair_hits(self.pairs, found, (k,)) for found, k in zip(lists, ks, strict=True)]
        hits = PairHits(
            tuple(ks), {t: np.hstack([p.h[t] for p in per_k]) for t in per_k[0].h}, per_k[0].has
        )
        return ModelResult(
            hit=hits.rates(self.pairs.bootstrap),
            seen=hits.rates(self.pairs.bootstrap, self.seen_mask),
            coverage=coverage(self.pairs, lists[-1]),
            candidate_seconds=seconds,
            train_seconds=train_seconds,
        )

    def embedding_models(
        self,
        pair_emb: Embeddings,
        item_emb: Embeddings | None,
        config: TrainConfig,
        category: np.ndarray,
        train_seconds: dict[str, float | None] | None = None,
        category_tokens: CategoryVectors | None = None,
    ) -> dict[str, ModelResult]:
        """view-, cart- and no-interaction, and the view and no-interaction models with cold
        items (a test item unknown to the model searched with its ``category``'s mean; also
        with its learned category token, when the model has ``category_tokens``)."""
        seconds = train_seconds or {}
        runs: list[tuple[str, Embeddings, Interaction | None, np.ndarray | None, str]] = [
            ("view-interaction", pair_emb, Interaction.VIEW, None, "pairs"),
            ("cart-interaction", pair_emb, Interaction.CART, None, "pairs"),
            (COLD_VIEW, pair_emb, Interaction.VIEW, category, "pairs"),
        ]
        if category_tokens is not None:
            runs.append((COLD_TOKEN, pair_emb, Interaction.VIEW, category, "pairs"))
        if item_emb is not None:
            runs.insert(2, ("no-interaction", item_emb, None, None, "items"))
            runs.append((COLD_ITEMS, item_emb, None, category, "items"))
        return {
            name: self.score(
                self.embedding(
                    emb,
                    config,
                    query,
                    cold_category=cold,
                    cold_vectors=category_tokens if name == COLD_TOKEN else None,
                ),
                seconds.get(model),
            )
            for name, emb, query, cold, model in runs
        }

    def embedding(
        self,
        embeddings: Embeddings,
        config: TrainConfig,
        query: Interaction | None,
        target: Interaction | None = None,
        cold_category: np.ndarray | None = None,
        cold_vectors: CategoryVectors | None = None,
    ) -> EmbeddingGenerator:
        return EmbeddingGenerator(
            embeddings,
            self.n_items,
            query,
            target,
            config.index.similarity,
            self.options.search,
            config.index,
            config.sgns.threads,
            cold_category,
            cold_vectors,
        )


def interaction_matrix(
    scorer: Scorer, pair_emb: Embeddings, config: TrainConfig
) -> dict[str, dict[str, Any]]:
    """ "Because you X this, you may Y that": pairs with interaction X, X's vector, Y's rows."""
    matrix: dict[str, dict[str, Any]] = {}
    for x in Interaction:
        mask = scorer.pairs.interaction == int(x)
        if not mask.any():
            continue
        query = np.unique(scorer.pairs.item[mask])
        row = {}
        for y in MATRIX_TARGETS:
            generator = scorer.embedding(pair_emb, config, x, y)
            candidates = generator.candidates(query, max(scorer.options.ks))
            row["any" if y is None else y.label] = hit_rates(
                scorer.pairs, candidates, scorer.options.ks, mask=mask
            )
        matrix[x.label] = row
    return matrix


def train_seconds_of(models: Models) -> dict[str, float | None]:
    return {
        "pairs": models.pairs.seconds,
        "items": None if models.items is None else models.items.seconds,
    }


def with_train_seconds(result: ModelResult, seconds: float | None) -> ModelResult:
    return ModelResult(result.hit, result.seen, result.coverage, result.candidate_seconds, seconds)
