"""``evaluate``: train every model before the cutoff, score every candidate generator after it.

One idea at ~530 lines: the order of one evaluation run and the scoring that every generator
shares (``Scorer``); each generator, metric, report part and the blend rule live in their own
files beside it. The ablation and sweep loops are a few lines each and read best next to the
flow that calls them.

Top to bottom: load → time split → test pairs and their H → fit the pair and item models
(``trainer.fit.fit``) and gensim's reference → candidate sets of every generator for every
distinct test item (one search call per batch) → hit rates, seen-item hit rates, coverage →
the X→Y matrix → the dimension sweep and the custom-negative ablations. The result is an
``Evaluation``; ``report.py`` and ``plots.py`` turn it into files.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from contracts.interactions import Interaction
from trainer.auto import Choice, choose
from trainer.cold import category_token_rows
from trainer.config import TrainConfig
from trainer.evaluation.copurchase import copurchase_generator
from trainer.evaluation.generators import (
    CandidateGenerator,
    CategoryVectors,
    EmbeddingGenerator,
    Embeddings,
    SearchKind,
    category_popular_generator,
    embeddings_of,
    item_codes,
    popular_generator,
    popularity,
)
from trainer.evaluation.metrics import (
    KS,
    PairHits,
    TestPairs,
    build_test_pairs,
    coverage,
    hit_rates,
    pair_hits,
)
from trainer.evaluation.reference import gensim_available, train_gensim
from trainer.evaluation.results import (
    EmbeddingSample,
    Evaluation,
    GensimCheck,
    ModelResult,
)
from trainer.evaluation.served import ServedGenerator, served_path
from trainer.evaluation.split import Split, seen_items, time_split
from trainer.events import EventLog, load_events
from trainer.fit import Models, fit
from trainer.sgns import train_sgns
from trainer.vocab import encode_items, item_categories

log = logging.getLogger("trainer.evaluation")

COLD_VIEW, COLD_ITEMS = "view-interaction + cold items", "no-interaction + cold items"
COLD_TOKEN = "view-interaction + cold items by category token"
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
MATRIX_TARGETS: tuple[Interaction | None, ...] = (*Interaction, None)  # None: "any"
SAMPLE_PER_INTERACTION = 500  # pair vectors per interaction in the figure-2 projection


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


def evaluate_log(events: Path, config: TrainConfig, options: EvalOptions) -> Evaluation:
    """Split ``events`` by time, train on the past, score every generator on the test day."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    with _timed(timings, "load"):
        event_log = load_events(events, config.data, progress=options.progress)
    with _timed(timings, "split"):
        split = time_split(event_log, options.test_days, config.sessions)
        pairs = build_test_pairs(split.test)
    log.info("split: %s", split.info.to_json())
    with _timed(timings, "choose on the training window's validation split"):
        choice = choose(split.train, config, options.progress)  # exactly as train does
    config = choice.config
    with _timed(timings, "train main models"):
        models = fit(split.train, config, options.progress)
    scorer = Scorer(pairs, seen_items(models.sessions), len(event_log.item_ids), options)
    pair_emb, item_emb = embeddings_of(models, event_log)
    results: dict[str, ModelResult] = {}
    train_s = _train_seconds(models)
    with _timed(timings, "score main models"):
        category = item_categories(event_log)
        tokens = category_tokens_of(models, event_log)
        results.update(
            scorer.embedding_models(pair_emb, item_emb, config, category, train_s, tokens)
        )
        results.update(baselines(split, event_log, scorer, config, options))
        results["served"] = served(models, split, event_log, scorer, choice)
    notes: list[str] = []
    check = None
    if options.gensim and item_emb is not None and gensim_available():
        with _timed(timings, "gensim reference"):
            results["gensim-item2vec"], check = gensim_reference(
                models, split.train, scorer, config, options, results["no-interaction"]
            )
    elif options.gensim:
        notes.append("gensim is not installed: the gensim-item2vec reference was skipped")
    matrix = {}
    if options.matrix:
        with _timed(timings, "interaction matrix"):
            matrix = interaction_matrix(scorer, pair_emb, config)
    dims: dict[int, dict[str, ModelResult]] = {}
    for dim in options.sweep_dims:
        with _timed(timings, f"dim {dim}"):
            dims[dim] = sweep_dim(dim, split, models, results, scorer, config, options)
    ablations: dict[str, dict[str, ModelResult]] = {}
    if options.ablations:
        for variant, overrides in ABLATIONS.items():
            if (missing := missing_data(variant, event_log)) is not None:
                notes.append(f"ablation {variant!r} skipped: the log has no {missing}")
                continue
            with _timed(timings, f"ablation {variant}"):
                ablations[variant] = ablate(overrides, split, event_log, scorer, config, options)
    timings["total"] = time.perf_counter() - started
    return Evaluation(
        title=f"Offline evaluation of {events.name}",
        command=options.command,
        split=split.info,
        data=data_statistics(split, models, pairs, scorer),
        config=config,
        ks=options.ks,
        models=results,
        matrix=matrix,
        dims=dims,
        ablations=ablations,
        gensim_check=check,
        timings=timings,
        settings=options.settings(),
        sample=embedding_sample(pair_emb, config.sgns.seed),
        notes=tuple(notes),
        load=event_log.report,
        chosen=choice.record,
        blend=choice.blend,
    )


def category_tokens_of(models: Models, event_log: EventLog) -> CategoryVectors | None:
    """The pair model's learned category tokens (query side), in the log's category codes;
    None without category tokens."""
    vocab = models.vocab
    codes, rows = category_token_rows(vocab)
    if not len(codes):
        return None
    code = {category_id: c for c, category_id in enumerate(event_log.category_ids)}
    category = np.array([code[vocab.category_ids[c]] for c in codes], np.int64)
    return CategoryVectors(category, models.pairs.input[rows])


def baselines(
    split: Split, event_log: EventLog, scorer: Scorer, config: TrainConfig, options: EvalOptions
) -> dict[str, ModelResult]:
    """co-purchase, popular and popular-in-category, learned from the training events."""
    train, k = split.train, max(options.ks)
    hours = options.copurchase_window_hours
    window = math.inf if hours is None else hours * 3600.0
    copurchase = copurchase_generator(
        train.user, train.item, train.interaction, train.timestamp, window, scorer.n_items, k
    )
    score = popularity(train.item, train.interaction, config.popular.weights, scorer.n_items)
    category = item_categories(event_log)  # item metadata: known for new items too
    return {
        "co-purchase": scorer.score(copurchase),
        "popular": scorer.score(popular_generator(score, k)),
        "popular-in-category": scorer.score(category_popular_generator(score, category, k)),
    }


def served(
    models: Models, split: Split, event_log: EventLog, scorer: Scorer, choice: Choice
) -> ModelResult:
    """What the service answers for each test item as the one seed of its "viewed" module
    (trainer/evaluation/served.py), with the blend rule chosen on the validation split."""
    neighbours, backfill = served_path(
        models, event_log, split.train, choice.config, scorer.query, max(scorer.options.ks)
    )
    generator = ServedGenerator(neighbours, backfill, choice.blend)
    return scorer.score_each_k(generator, models.pairs.seconds)


def gensim_reference(
    models: Models,
    train: EventLog,
    scorer: Scorer,
    config: TrainConfig,
    options: EvalOptions,
    ours: ModelResult,
) -> tuple[ModelResult, GensimCheck]:
    """gensim on our item corpus and settings; the paired bootstrap check (``GensimCheck``)
    over ``gensim_runs`` seeds.

    Run r uses seed ``seed + r`` on both sides (our run 0 is the main no-interaction model),
    so the check compares means, not one draw of each: on a small test set one seed's hit
    rate moves by several percent.
    """
    corpus = encode_items(models.sessions, models.vocab, train)
    item_code = item_codes(models, train)
    k = max(options.ks)
    mine, theirs = [ours.hit], []
    reported: ModelResult | None = None
    for run in range(options.gensim_runs):
        cfg = config.with_overrides({"sgns": {"seed": config.sgns.seed + run}})
        u, v, seconds = train_gensim(corpus, cfg.sgns)
        result = scorer.score(scorer.embedding(Embeddings(u, v, item_code, None), cfg, None))
        reported = reported or _with_train(result, seconds)
        theirs.append(result.hit)
        if run:
            again = train_sgns(corpus, cfg.sgns, progress=options.progress, desc="items")
            emb = Embeddings(again.input, again.output, item_code, None)
            mine.append(scorer.score(scorer.embedding(emb, cfg, None)).hit)
    assert reported is not None
    return reported, GensimCheck.paired(mine, theirs, k)


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
    train_s = _train_seconds(models)
    out = {"view-interaction": scorer.score(scorer.embedding(pair_emb, cfg, Interaction.VIEW))}
    out["view-interaction"] = _with_train(out["view-interaction"], train_s["pairs"])
    if item_emb is not None:
        result = scorer.score(scorer.embedding(item_emb, cfg, None))
        out["no-interaction"] = _with_train(result, train_s["items"])
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
        f"{name}-interaction": _with_train(
            scorer.score(scorer.embedding(pair_emb, cfg, interaction)), seconds
        )
        for name, interaction in (("view", Interaction.VIEW), ("cart", Interaction.CART))
    }


def data_statistics(
    split: Split, models: Models, pairs: TestPairs, scorer: Scorer
) -> dict[str, Any]:
    """Sizes of the training vocabulary and of the test set."""
    test_items = np.unique(pairs.event_item)
    seen = np.isin(test_items, seen_items(models.sessions))
    interactions = np.bincount(split.test.interaction, minlength=len(Interaction))
    return {
        "train_items": models.vocab.n_items,
        "train_pairs": models.vocab.n_tokens,
        "train_pairs_per_interaction": models.vocab.pairs_per_interaction(),
        "train_session_events": int(models.sessions.offsets[-1]),
        "test_items": len(test_items),
        "test_items_seen": int(seen.sum()),
        "test_distinct_pairs": len(pairs),
        "test_distinct_pairs_seen": int(scorer.seen_mask.sum()),
        "test_events_per_interaction": {i.label: int(interactions[i]) for i in Interaction},
    }


def embedding_sample(emb: Embeddings, seed: int) -> EmbeddingSample:
    """Up to SAMPLE_PER_INTERACTION pair vectors of each interaction (figure 2)."""
    rng = np.random.default_rng(seed)
    rows = []
    for interaction in Interaction:
        candidates = emb.rows(interaction)
        size = min(SAMPLE_PER_INTERACTION, len(candidates))
        rows.append(rng.choice(candidates, size=size, replace=False))
    picked = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    assert emb.interaction is not None
    return EmbeddingSample(emb.input[picked], emb.interaction[picked])


def _train_seconds(models: Models) -> dict[str, float | None]:
    return {
        "pairs": models.pairs.seconds,
        "items": None if models.items is None else models.items.seconds,
    }


def _with_train(result: ModelResult, seconds: float | None) -> ModelResult:
    return ModelResult(result.hit, result.seen, result.coverage, result.candidate_seconds, seconds)


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - started
    log.info("%s: %.1fs", name, timings[name])
