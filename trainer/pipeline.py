"""``train``: the whole offline pipeline, top to bottom, from an event log to a published version.

load → validate → choose epochs and the blend rule on a validation split (trainer/auto.py) →
sessionize → vocabulary → pair model (with the paper's negatives) and no-interaction model →
popular items → HNSW indexes with measured recall → neighbour tables → publish.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from contracts import artifacts, storage
from contracts.catalog import Catalog, write_categories
from contracts.popular import Popular
from contracts.published import write_model_files
from trainer.auto import Choice, choose
from trainer.cold import cold_vectors
from trainer.config import ColdVector, TrainConfig
from trainer.events import EventLog, load_events
from trainer.fit import Models, fit, fit_corpus
from trainer.index import IndexSource, build_indexes, entity_sources, pair_sources
from trainer.neighbors import build_tables_for
from trainer.popular import popular_items
from trainer.sessions import empty_sessions
from trainer.sgns import resolve_threads
from trainer.stages import stage
from trainer.vocab import Vocab

log = logging.getLogger("trainer")


def train(
    events: Path,
    artifacts_dir: Path | str | storage.Location,
    config: TrainConfig,
    progress: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> str:
    """Train on ``events``, publish a version into ``artifacts_dir`` (a folder or
    ``s3://bucket/prefix``, contracts/storage.py), return its id. The store is checked first,
    so a bad URL or missing credentials fail before the training time is spent."""
    store = storage.open_store(artifacts_dir)
    store.check()
    with stage("load"):
        event_log = load_events(events, config.data, progress=progress)
    log.info("%s", event_log.report.summary())
    with stage("choose"):  # fits on the validation split: its own stages are logged inside
        choice = choose(event_log, config, progress)
    models = fit(event_log, choice.config, progress)
    with stage("popular"):
        popular = popular_items(event_log, choice.config.popular)
    data = data_statistics(event_log, models)
    del event_log  # the rest needs the vectors and the vocabulary alone
    return publish(store, models, choice, popular, data, progress, on_step)


def train_prepared(
    prepared: Path,
    artifacts_dir: Path | str | storage.Location,
    config: TrainConfig,
    progress: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> str:
    """``train`` from a prepared folder (trainer/prepare/): the same version as from its log.

    The corpora, vocabulary, popular items and statistics are read from the folder (token
    shards memory-mapped); the validated events only when the validation split needs them
    (``sgns.epochs = "auto"`` or ``auto.blend``).
    """
    from trainer.prepare import format as fmt
    from trainer.prepare import training_config

    store = storage.open_store(artifacts_dir)
    store.check()
    manifest = fmt.read_manifest(prepared)
    config = training_config(manifest, config)
    choice = Choice(config, None, {})
    if config.sgns.epochs == "auto" or config.auto.blend:
        choice = choose(fmt.read_events(prepared), config, progress)
    vocab = fmt.read_vocab(prepared)
    pairs = fmt.read_corpus(prepared, fmt.PAIRS, vocab.size, config.negatives.implicit)
    models = fit_corpus(
        fmt.read_sessions(prepared), vocab, pairs,
        lambda: fmt.read_corpus(prepared, fmt.ITEMS, vocab.n_items), choice.config, progress,
    )  # fmt: skip
    data = {**manifest.statistics, **model_statistics(models)}
    popular = fmt.read_popular(prepared)
    return publish(store, models, choice, popular, data, progress, on_step)


def publish(
    store: storage.Store,
    models: Models,
    choice: Choice,
    popular: Popular,
    data: dict[str, Any],
    progress: bool,
    on_step: Callable[[str], None] | None,
) -> str:
    """Write a version of ``models`` into a stage of ``store`` and publish it; its id. The
    sessions are dropped and the freed heap handed back first: indexing needs the vectors and
    the vocabulary alone."""
    models = replace(models, sessions=empty_sessions())
    release_freed_memory()
    with store.stage(on_step=on_step) as staged:
        fields = write_trained(staged.path, models, choice, popular, data, progress)
        with stage("publish"):
            version = staged.publish(fields, keep=choice.config.publish.keep_versions)
    log.info("published %s into %s", version, store.location)
    return version


def release_freed_memory() -> None:
    """Hand the heap freed so far back to the system. glibc keeps freed small blocks for reuse,
    so without this the events freed before indexing would still count in the process's
    memory (and in its peak) until the end; a no-op where ``malloc_trim`` does not exist."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def write_trained(
    out: Path,
    models: Models,
    choice: Choice,
    popular: Popular,
    data: dict[str, Any],
    progress: bool,
) -> dict[str, Any]:
    """Write every file of a version of ``models`` into ``out``; return the manifest fields."""
    config = choice.config
    vocab = models.vocab
    categories = [
        str(vocab.category_ids[c]) if c >= 0 else None for c in vocab.item_category.tolist()
    ]
    entities = vocab.entities
    catalog = Catalog(
        item_ids=[str(i) for i in vocab.item_ids],
        item_category=categories,
        token_item=vocab.token_item,
        token_interaction=vocab.token_interaction,
        token_count=vocab.token_count,
        entity_kind=entities.kind_labels() if len(entities) else [],
        entity_ids=[str(e) for e in entities.ids] if len(entities) else [],
    )
    pairs_in, pairs_out = models.pairs.input, models.pairs.output
    items = None if models.items is None else (models.items.input, models.items.output)
    counts = entities.count.tolist() if len(entities) else []
    with stage("model files"):
        write_model_files(out, catalog, (pairs_in, pairs_out), items, counts)
    sources = pair_sources(vocab.token_interaction, pairs_in, pairs_out)
    if len(entities):
        sources += entity_sources(entities.kind, vocab.n_tokens, pairs_in, pairs_out)
    cold = write_cold_vectors(out, vocab, pairs_in, config.cold.vector)
    training = {"pairs": models.pairs.stats()}
    if models.items is not None:
        labels = np.arange(vocab.n_items, dtype=np.int64)
        sources.append(
            IndexSource(artifacts.ITEM_INDEX, labels, models.items.input, models.items.output)
        )
        training["items"] = models.items.stats()
    threads = resolve_threads(config.sgns.threads)
    with stage("hnsw"):
        indexes = build_indexes(sources, out, config.index, threads, config.sgns.seed, progress)
    with stage("neighbour tables"):
        tables = build_tables_for(
            out, indexes, vocab, config, threads, progress, models.items is not None, len(cold)
        )
    popular.write(out / artifacts.POPULAR)
    return {
        "config": config.model_dump(mode="json"),
        "data": data,
        "dim": config.sgns.dim,
        "similarity": config.index.similarity,
        "training": training,
        "indexes": indexes,
        "neighbor_tables": tables,
        "blend": choice.blend,
        "chosen": choice.record,
        "extra": {
            "negatives_used": {
                "positives": models.pairs.positives,
                "hierarchy": models.pairs.hierarchy_negatives,
                "taxonomy": models.pairs.taxonomy_negatives,
                "implicit": models.pairs.implicit_negatives,
                "purchase_contexts": models.pairs.purchase_contexts,
            }
        },
    }


def write_cold_vectors(
    out: Path, vocab: Vocab, pairs_in: np.ndarray, vector: ColdVector
) -> np.ndarray:
    """Write each category's vector for unseen items (trainer/cold.py); return the vectors."""
    categories, vectors = cold_vectors(vocab, pairs_in, vector)
    (out / artifacts.COLD_VECTORS).parent.mkdir(parents=True, exist_ok=True)
    write_categories(
        out / artifacts.COLD_CATEGORIES, [str(c) for c in vocab.category_ids[categories]]
    )
    np.save(out / artifacts.COLD_VECTORS, vectors)
    return vectors


def data_statistics(event_log: EventLog, models: Models) -> dict[str, Any]:
    """What the manifest says about the data a version was trained on."""
    report = event_log.report
    ts = event_log.timestamp
    return {
        "source": report.path,
        "rows_read": report.rows_read,
        "events": len(event_log),
        "bad_rows": report.bad.counts,
        "ignored_rows": report.ignored,
        "out_of_window": report.out_of_window,
        "users": len(np.unique(event_log.user)),
        "time_range": [int(ts.min()), int(ts.max())] if len(ts) else None,
        **model_statistics(models),
        "impressions": 0 if event_log.impressions is None else len(event_log.impressions),
        "categories": len(event_log.category_ids),
    }


def model_statistics(models: Models) -> dict[str, Any]:
    """What the manifest says about the sessions and vocabulary a version was trained on."""
    return {
        "sessions": len(models.sessions),
        "sessions_dropped_short": models.sessions.dropped_short,
        "session_pairs": int(models.sessions.offsets[-1]),
        "items": models.vocab.n_items,
        "pairs": models.vocab.n_tokens,
        "pairs_per_interaction": models.vocab.pairs_per_interaction(),
        "entities_per_kind": models.vocab.entities.per_kind(),
    }
