"""``fit``: sessions, vocabulary and both embedding models of one event log, in memory.

``train`` (trainer/pipeline.py) fits and publishes; ``evaluate`` and the automatic choices
(trainer/auto.py) fit on parts of a log and score what they learned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from trainer.config import TrainConfig
from trainer.events import EventLog
from trainer.negatives import build_tables
from trainer.sessions import Sessions, sessionize
from trainer.sgns import SGNSResult, train_sgns
from trainer.stages import stage
from trainer.vocab import Corpus, Vocab, build_vocab, encode_items, encode_pairs

log = logging.getLogger("trainer")


@dataclass(frozen=True)
class Models:
    """What one training run learns from one event log."""

    sessions: Sessions
    vocab: Vocab
    pairs: SGNSResult
    items: SGNSResult | None


def fit(event_log: EventLog, config: TrainConfig, progress: bool = True) -> Models:
    """Sessions, vocabulary and both embedding models of ``event_log``."""
    with stage("sessionize"):
        sessions = sessionize(event_log, config.sessions)
    if len(sessions) == 0:
        raise ValueError(
            f"no session of {config.sessions.min_pairs}+ pairs in {len(event_log)} events; "
            "is the log too small, or the session gap too short?"
        )
    with stage("vocabulary"):
        vocab = build_vocab(sessions, event_log, config.vocab, config.entities)
    log.info(
        "%d sessions (%d short ones dropped), %d items, pairs %s, entities %s",
        len(sessions),
        sessions.dropped_short,
        vocab.n_items,
        vocab.pairs_per_interaction(),
        vocab.entities.per_kind(),
    )
    implicit_max = config.negatives.implicit_max if config.negatives.implicit else 0
    with stage("encode"):
        pair_corpus = encode_pairs(sessions, vocab, event_log, implicit_max)
    return fit_corpus(
        sessions, vocab, pair_corpus, lambda: encode_items(sessions, vocab, event_log), config,
        progress,
    )  # fmt: skip


def fit_corpus(
    sessions: Sessions,
    vocab: Vocab,
    pair_corpus: Corpus,
    item_corpus: Callable[[], Corpus],
    config: TrainConfig,
    progress: bool = True,
) -> Models:
    """Both embedding models of corpora already encoded (by ``fit``, or read from a prepared
    folder by ``train --prepared``); ``item_corpus`` is called only when the item model is."""
    tables = build_tables(vocab)
    items = None
    warm = config.sgns.pair_vectors == "from_items"
    if config.no_interaction or warm:
        with stage("sgns items"):
            items = train_sgns(item_corpus(), config.sgns, progress=progress, desc="items")
    start = warm_start(vocab, items) if warm and items is not None else None
    with stage("sgns pairs"):
        pairs = train_sgns(
            pair_corpus, config.sgns, tables, config.negatives, progress, "pairs",
            config.journeys, start,
        )  # fmt: skip
    return Models(sessions, vocab, pairs, items if config.no_interaction else None)


def warm_start(vocab: Vocab, items: SGNSResult) -> tuple[np.ndarray, np.ndarray]:
    """Pair vectors that start where the no-interaction model ended: every (ℓ, x) at ℓ's
    trained input and output vectors; entity tokens (after the pairs) at word2vec's start."""
    n_entities = len(vocab.entities)
    dim = items.input.shape[1]
    rng = np.random.default_rng(len(vocab.token_item))
    entity_in = ((rng.random((n_entities, dim), dtype=np.float32) - 0.5) / dim).astype(np.float32)
    u = np.concatenate([items.input[vocab.token_item], entity_in])
    v = np.concatenate([items.output[vocab.token_item], np.zeros((n_entities, dim), np.float32)])
    return u, v
