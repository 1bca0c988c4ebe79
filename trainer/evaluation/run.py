"""``evaluate``: train every model before the cutoff, score every candidate generator after it.

The order of one evaluation run; the scoring every generator shares is ``scorer.py``, the
retrained variants (ablations, dimension sweep) ``variants.py``, and each generator, metric,
report part and the blend rule has its own file beside it.

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
from pathlib import Path
from typing import Any

import numpy as np

from contracts.interactions import Interaction
from trainer.auto import Choice, choose
from trainer.cold import category_token_rows
from trainer.config import TrainConfig
from trainer.evaluation.copurchase import copurchase_generator
from trainer.evaluation.generators import (
    CategoryVectors,
    Embeddings,
    category_popular_generator,
    embeddings_of,
    item_codes,
    popular_generator,
    popularity,
)
from trainer.evaluation.metrics import (
    TestPairs,
    build_test_pairs,
)
from trainer.evaluation.reference import gensim_available, train_gensim
from trainer.evaluation.results import (
    EmbeddingSample,
    Evaluation,
    GensimCheck,
    ModelResult,
)
from trainer.evaluation.scorer import (
    EvalOptions,
    Scorer,
    interaction_matrix,
    train_seconds_of,
    with_train_seconds,
)
from trainer.evaluation.served import ServedGenerator, served_path
from trainer.evaluation.split import Split, seen_items, time_split
from trainer.evaluation.variants import ABLATIONS, ablate, missing_data, sweep_dim
from trainer.events import EventLog, load_events
from trainer.fit import Models, fit
from trainer.sgns import train_sgns
from trainer.vocab import encode_items, item_categories

log = logging.getLogger("trainer.evaluation")

SAMPLE_PER_INTERACTION = 500  # pair vectors per interaction in the figure-2 projection


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
    train_s = train_seconds_of(models)
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
        reported = reported or with_train_seconds(result, seconds)
        theirs.append(result.hit)
        if run:
            again = train_sgns(corpus, cfg.sgns, progress=options.progress, desc="items")
            emb = Embeddings(again.input, again.output, item_code, None)
            mine.append(scorer.score(scorer.embedding(emb, cfg, None)).hit)
    assert reported is not None
    return reported, GensimCheck.paired(mine, theirs, k)


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


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - started
    log.info("%s: %.1fs", name, timings[name])
