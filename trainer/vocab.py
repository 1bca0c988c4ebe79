"""The vocabulary: which (item, interaction) pairs and which items get an embedding.

Counts are taken over the training sessions (what the model sees). A pair is kept when its
count reaches the minimum for its interaction type (the blog's per-type thresholds); an item is
kept when its count over all interactions reaches ``item_min_count``, and only pairs of kept
items are kept, so every pair token has an item row to fall back to. Rows are ordered by count,
most frequent first, as in word2vec. Each item keeps its category (the most frequent one in the
log) for the taxonomy negatives and the per-category fallbacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contracts.interactions import N_INTERACTIONS, Interaction
from trainer.config import EntitiesConfig, VocabConfig
from trainer.entities import EntityVocab, build_entities, entity_slots
from trainer.events import EventLog
from trainer.sessions import Sessions


@dataclass(frozen=True)
class Vocab:
    """Items (rows of the no-interaction model) and pair tokens (rows of the pair model)."""

    item_ids: np.ndarray  # str, one per item row
    item_category: np.ndarray  # int32 code into category_ids, -1 when unknown
    item_count: np.ndarray  # int64 occurrences in the training sessions
    category_ids: np.ndarray  # str
    token_item: np.ndarray  # int32 item row of each pair token
    token_interaction: np.ndarray  # int8 interaction code of each pair token
    token_count: np.ndarray  # int64
    item_token: np.ndarray  # int32 (n_items, N_INTERACTIONS): pair token or -1
    entities: EntityVocab = field(default_factory=EntityVocab.empty)  # tokens after the pairs

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_tokens(self) -> int:
        """Pair tokens (tokens.npy); the pair model also has ``size - n_tokens`` entities."""
        return len(self.token_item)

    @property
    def size(self) -> int:
        """Rows of the pair model: the pair tokens, then the entity tokens."""
        return self.n_tokens + len(self.entities)

    def token_label(self, token: int) -> str:
        """A readable name such as ``i42:cart``."""
        item = self.item_ids[self.token_item[token]]
        return f"{item}:{Interaction(int(self.token_interaction[token])).label}"

    def pairs_per_interaction(self) -> dict[str, int]:
        counts = np.bincount(self.token_interaction, minlength=N_INTERACTIONS)
        return {i.label: int(counts[i]) for i in Interaction}


@dataclass(frozen=True)
class Corpus:
    """Sessions as token ids: session ``s`` is ``tokens[offsets[s]:offsets[s + 1]]``.

    ``implicit``, when given, is the implicit negatives of every position: position p's are
    ``implicit[1][implicit[0][p]:implicit[0][p + 1]]`` (CSR offsets int64, tokens int32).
    """

    tokens: np.ndarray  # int32
    offsets: np.ndarray  # int64
    counts: np.ndarray  # int64 occurrences of each token id in this corpus
    implicit: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.offsets) - 1


def build_vocab(
    sessions: Sessions, log: EventLog, config: VocabConfig, entities: EntitiesConfig | None = None
) -> Vocab:
    """Count, threshold and order the items and pairs (and ``entities``) of ``sessions``."""
    n_log_items = len(log.item_ids)
    item_count = np.bincount(sessions.item, minlength=n_log_items).astype(np.int64)
    pair_key = sessions.item.astype(np.int64) * N_INTERACTIONS + sessions.interaction
    pair_count = np.bincount(pair_key, minlength=n_log_items * N_INTERACTIONS).reshape(
        n_log_items, N_INTERACTIONS
    )

    kept_items = np.flatnonzero(item_count >= config.item_min_count)
    kept_items = kept_items[np.lexsort((kept_items, -item_count[kept_items]))]
    row_of_item = np.full(n_log_items, -1, dtype=np.int64)
    row_of_item[kept_items] = np.arange(len(kept_items))

    thresholds = np.array([config.min_count[i.label] for i in Interaction], dtype=np.int64)
    passes = (pair_count >= thresholds[None, :]) & (row_of_item >= 0)[:, None]
    log_item, inter = np.nonzero(passes)
    counts = pair_count[log_item, inter]
    order = np.lexsort((inter, row_of_item[log_item], -counts))
    log_item, inter, counts = log_item[order], inter[order], counts[order]

    token_item = row_of_item[log_item].astype(np.int32)
    item_token = np.full((len(kept_items), N_INTERACTIONS), -1, dtype=np.int32)
    item_token[token_item, inter] = np.arange(len(token_item), dtype=np.int32)
    category = item_categories(log)
    entity_vocab = EntityVocab.empty()
    if entities is not None and entities.kinds:
        entity_vocab = build_entities(log, sessions, category, entities)
    return Vocab(
        item_ids=log.item_ids[kept_items],
        item_category=category[kept_items],
        item_count=item_count[kept_items],
        category_ids=log.category_ids,
        token_item=token_item,
        token_interaction=inter.astype(np.int8),
        token_count=counts.astype(np.int64),
        item_token=item_token,
        entities=entity_vocab,
    )


def encode_pairs(sessions: Sessions, vocab: Vocab, log: EventLog, implicit_max: int = 0) -> Corpus:
    """The pair-token corpus; out-of-vocabulary pairs are removed (word2vec drops rare words).

    With entity tokens in ``vocab``, each pair is preceded by those it brings (trainer/
    entities.py). With ``implicit_max``, a pair's implicit negatives are the pairs, of its
    interaction, of the items its log row says were shown above it and skipped
    (``log.impressions``): at most ``implicit_max``, nearest the click first.
    """
    token = _pair_tokens(vocab, log, sessions)
    slots = token[:, None]
    if len(vocab.entities):
        before = entity_slots(log, sessions, vocab.entities, item_categories(log), vocab.n_tokens)
        slots = np.concatenate([before, slots], axis=1)
    width = slots.shape[1]
    if not implicit_max:
        return _compact(slots.ravel(), sessions.offsets * width, vocab.size, dedupe=False)[0]
    corpus, kept = _compact(
        slots.ravel(), sessions.offsets * width, vocab.size, dedupe=False, with_index=True
    )
    assert kept is not None
    position, negative = _implicit_negatives(sessions, vocab, log, token, implicit_max)
    at = np.full(len(slots) * width, -1, np.int64)
    at[kept] = np.arange(len(kept))
    position = at[position * width + width - 1]  # the pair's slot, after its entities
    in_corpus = position >= 0
    position, negative = position[in_corpus], negative[in_corpus]
    negative = negative[np.argsort(position, kind="stable")]
    counts = np.bincount(position, minlength=len(corpus.tokens))
    offsets = np.zeros(len(corpus.tokens) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    return replace(corpus, implicit=(offsets, negative.astype(np.int32)))


def _pair_tokens(vocab: Vocab, log: EventLog, sessions: Sessions) -> np.ndarray:
    """int32: the pair token of every session position, -1 outside the vocabulary (4 bytes a
    position, and as little as that in passing: this runs over every event of the log)."""
    rows = _row_of_item(vocab, log)[sessions.item]
    token = np.full(len(rows), -1, np.int32)
    known = np.flatnonzero(rows >= 0)
    token[known] = vocab.item_token[rows[known], sessions.interaction[known]]
    return token


def _implicit_negatives(
    sessions: Sessions, vocab: Vocab, log: EventLog, token: np.ndarray, most: int
) -> tuple[np.ndarray, np.ndarray]:
    """(session position, negative token): each shown-and-skipped item's pair of the click's
    interaction, for clicks and shown items in the vocabulary; at most ``most`` per position,
    the last shown (nearest the click) first."""
    shown = log.impressions
    if shown is None or not len(shown):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    position_of_row = np.full(len(log), -1, np.int64)
    position_of_row[sessions.row] = np.arange(len(sessions.row))
    position = position_of_row[shown.row]
    shown_row = _vocab_rows(vocab, shown.ids)[shown.item]
    ok = (position >= 0) & (shown_row >= 0)
    ok[ok] = token[position[ok]] >= 0
    negative = np.full(len(position), -1, np.int64)
    negative[ok] = vocab.item_token[shown_row[ok], sessions.interaction[position[ok]]]
    ok &= (negative >= 0) & (negative != np.where(position >= 0, token[position], -1))
    position, negative = position[ok], negative[ok]
    order = np.lexsort((-np.arange(len(position)), position))  # per click, nearest first
    position, negative = position[order], negative[order]
    first = np.r_[0, np.flatnonzero(np.diff(position)) + 1]
    rank = np.arange(len(position)) - np.repeat(first, np.diff(np.r_[first, len(position)]))
    return position[rank < most], negative[rank < most]


def encode_items(sessions: Sessions, vocab: Vocab, log: EventLog) -> Corpus:
    """The no-interaction corpus: one token per item, consecutive repeats collapsed."""
    token = _row_of_item(vocab, log)[sessions.item]
    return _compact(token, sessions.offsets, vocab.n_items, dedupe=True)[0]


def _row_of_item(vocab: Vocab, log: EventLog) -> np.ndarray:
    """Vocab row of each log item code, -1 for items outside the vocabulary."""
    return _vocab_rows(vocab, log.item_ids)


def _vocab_rows(vocab: Vocab, item_ids: np.ndarray) -> np.ndarray:
    """int32 vocab row of each of ``item_ids``, -1 for ids outside the vocabulary (a hash join
    in Arrow: no Python object per id)."""
    if not len(item_ids):
        return np.zeros(0, np.int32)
    found = pc.index_in(pa.array(item_ids, pa.string()), value_set=pa.array(vocab.item_ids))
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)


def _compact(
    token: np.ndarray, offsets: np.ndarray, n_tokens: int, dedupe: bool, with_index: bool = False
) -> tuple[Corpus, np.ndarray | None]:
    """Drop -1 tokens (and consecutive repeats), then sessions left with fewer than 2 tokens.

    With ``with_index``, also returns, per corpus token, its index in ``token``. Session ids are
    int32 and the index is made only when asked: this runs over every event of the log.
    """
    session = np.repeat(np.arange(len(offsets) - 1, dtype=np.int32), np.diff(offsets))
    keep = token >= 0
    if dedupe:
        keep[1:] &= (token[1:] != token[:-1]) | (session[1:] != session[:-1])
    index = np.flatnonzero(keep) if with_index else None
    token, session = token[keep].astype(np.int32, copy=False), session[keep]
    del keep
    lengths = np.bincount(session, minlength=len(offsets) - 1)
    long_enough = lengths >= 2
    rows = long_enough[session]
    del session
    token = token[rows]
    if index is not None:
        index = index[rows]
    kept_lengths = lengths[long_enough]
    new_offsets = np.zeros(len(kept_lengths) + 1, dtype=np.int64)
    np.cumsum(kept_lengths, out=new_offsets[1:])
    counts = np.bincount(token, minlength=n_tokens).astype(np.int64)
    return Corpus(tokens=token, offsets=new_offsets, counts=counts), index


def item_categories(log: EventLog) -> np.ndarray:
    """The most frequent category of each log item (-1 when it has none)."""
    n_items = len(log.item_ids)
    result = np.full(n_items, -1, dtype=np.int32)
    has = log.category >= 0
    if not has.any():
        return result
    n_cats = len(log.category_ids)
    key = log.item[has].astype(np.int64) * n_cats + log.category[has]
    keys, counts = np.unique(key, return_counts=True)
    items, cats = keys // n_cats, keys % n_cats
    order = np.lexsort((cats, -counts, items))
    items, cats = items[order], cats[order]
    first = np.r_[True, items[1:] != items[:-1]]
    result[items[first]] = cats[first]
    return result
