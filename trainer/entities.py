"""Entities beyond items: search queries, categories and shops as tokens of the pair model.

The blog puts every kind of thing a journey touches in one sequence, so that one space answers
item → query, query → item and shop → shop. Here a session's pair (ℓ, i) at log row r is
preceded by the entity tokens of r that are new at that point of the session, in the order
query, category, shop: the query the row came from (``query`` column), the item's category and
its shop (``shop_id``). "New" means different from the previous pair's value, so a session that
browses one shop's items holds that shop's token once, and a session that searched holds its
query once, where the search happened. Each kind has its own minimum count (the blog keeps
every shop and cuts rare queries). Entity tokens follow the pair tokens in the pair model:
entity e is token ``n_pairs + e``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contracts.catalog import ENTITY_KINDS
from trainer.config import EntitiesConfig
from trainer.events import EventLog
from trainer.sessions import Sessions


@dataclass(frozen=True)
class EntityVocab:
    """The entity tokens of a model, in token order: kind, code in the log's dictionary, id."""

    kind: np.ndarray  # int8 index into ENTITY_KINDS
    code: np.ndarray  # int32 code into the log's dictionary of that kind
    ids: np.ndarray  # str
    count: np.ndarray  # int64 tokens in the training sessions

    def __len__(self) -> int:
        return len(self.kind)

    @staticmethod
    def empty() -> EntityVocab:
        return EntityVocab(
            np.zeros(0, np.int8), np.zeros(0, np.int32), np.array([], object), np.zeros(0, np.int64)
        )

    def kind_labels(self) -> list[str]:
        return [ENTITY_KINDS[k] for k in self.kind.tolist()]

    def per_kind(self) -> dict[str, int]:
        counts = np.bincount(self.kind, minlength=len(ENTITY_KINDS))
        return {kind: int(n) for kind, n in zip(ENTITY_KINDS, counts, strict=True) if n}


def session_codes(
    log: EventLog, sessions: Sessions, kind: str, item_category: np.ndarray
) -> np.ndarray:
    """Per session pair, its ``kind`` code in the log's dictionary (-1: none)."""
    if kind == "category":
        return item_category[sessions.item].astype(np.int32)
    column = log.query if kind == "query" else log.shop
    if column is None:
        return np.full(len(sessions.item), -1, np.int32)
    return column[sessions.row]


def dictionary(log: EventLog, kind: str) -> np.ndarray:
    """The log's ids of ``kind``."""
    return {"query": log.query_ids, "category": log.category_ids, "shop": log.shop_ids}[kind]


def new_in_session(codes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """True where a pair brings an entity: a code that differs from the previous pair's."""
    new = codes >= 0
    changed = np.ones(len(codes), bool)
    changed[1:] = codes[1:] != codes[:-1]
    changed[offsets[:-1][np.diff(offsets) > 0]] = True
    return new & changed


def build_entities(
    log: EventLog, sessions: Sessions, item_category: np.ndarray, config: EntitiesConfig
) -> EntityVocab:
    """Count the entities ``config.kinds`` asks for in ``sessions``; keep those frequent enough.

    Within a kind, tokens are ordered by count, most frequent first, then by code.
    """
    parts = []
    for k, kind in enumerate(ENTITY_KINDS):
        if kind not in config.kinds:
            continue
        codes = session_codes(log, sessions, kind, item_category)
        emitted = codes[new_in_session(codes, sessions.offsets)]
        count = np.bincount(emitted, minlength=len(dictionary(log, kind)))
        parts.append((k, count, dictionary(log, kind)))
    return vocab_of_counts(parts, config)


def vocab_of_counts(
    parts: list[tuple[int, np.ndarray, np.ndarray]], config: EntitiesConfig
) -> EntityVocab:
    """The vocabulary of ``(kind index, count per code, ids per code)`` for each kind: codes
    counted at least ``min_count``, by count, most frequent first, then by code. The Spark
    engine counts in the cluster and keeps here (trainer/prepare/spark_steps.py)."""
    kept = []
    for k, count, ids in parts:
        codes = np.flatnonzero(count >= config.min_count[ENTITY_KINDS[k]])
        codes = codes[np.lexsort((codes, -count[codes]))]
        kept.append((k, codes, ids[codes], count[codes]))
    if not kept:
        return EntityVocab.empty()
    return EntityVocab(
        kind=np.concatenate([np.full(len(c), k, np.int8) for k, c, _, _ in kept]),
        code=np.concatenate([c for _, c, _, _ in kept]).astype(np.int32),
        ids=np.concatenate([i for _, _, i, _ in kept]).astype(object),
        count=np.concatenate([n for _, _, _, n in kept]).astype(np.int64),
    )


def entity_slots(
    log: EventLog,
    sessions: Sessions,
    entities: EntityVocab,
    item_category: np.ndarray,
    first_token: int,
) -> np.ndarray:
    """int32 (n_pairs_in_sessions, kinds): the entity token each pair brings before it, or -1.

    Columns follow ENTITY_KINDS (query, category, shop); token ids start at ``first_token``.
    """
    slots = np.full((len(sessions.item), len(ENTITY_KINDS)), -1, np.int32)
    for k, kind in enumerate(ENTITY_KINDS):
        mine = np.flatnonzero(entities.kind == k)
        if not len(mine):
            continue
        token_of = np.full(len(dictionary(log, kind)), -1, np.int64)
        token_of[entities.code[mine]] = first_token + mine
        codes = session_codes(log, sessions, kind, item_category)
        new = new_in_session(codes, sessions.offsets)
        slots[new, k] = token_of[codes[new]]
    return slots
