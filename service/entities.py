"""Neighbours of and among entity tokens: item → query, query → item, shop → shop, ….

A version trained with ``[entities] kinds`` has query, category and shop tokens in the pair
model, after the pair tokens, and one live index per kind (labels: pair-model tokens). So one
space answers "because you viewed this item, you may search …" (the item's pair vector in the
``query`` index), "people who searched this buy …" (the query's vector in the ``purchase``
index) and "shops like this shop" (the shop's vector in the ``shop`` index). Entity seeds have
no precomputed tables: each answer is one live query, timed like the modules' (``timer``).

Every neighbour names its seed, as the modules' candidates do: ``Because`` for an item seed,
``EntityBecause`` (the same fields plus ``entity_kind`` and ``entity_id``) for an entity seed.
An entity never neighbours itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contracts.catalog import ENTITY_KINDS
from contracts.interactions import Interaction
from service.hidden import HiddenItems
from service.model import Model
from service.reasons import ENTITY, Because, Candidate
from service.retrieval import (
    NotServedError,
    QueryTimer,
    UnknownItemError,
    neighbors,
    query_index,
)


class UnknownEntityError(LookupError):
    """The entity is not a token of the model."""


class NoEntitiesError(NotServedError):
    """The version has no tokens of this entity kind (its trainer did not make them)."""


@dataclass(kw_only=True)
class EntityBecause(Because):
    """An entity seed: ``Because``'s fields (item ones null) and the entity's kind and id."""

    entity_kind: str
    entity_id: str


@dataclass
class EntityNeighbor:
    """One neighbouring entity and why, in the JSON shape of ``EntityOut``."""

    kind: str
    entity_id: str
    score: float
    because: Because


Found = list[Candidate] | list[EntityNeighbor]


def item_neighbors(
    model: Model,
    item_id: str,
    interaction: Interaction,
    target: str,
    k: int,
    timer: QueryTimer | None = None,
    hidden: HiddenItems | None = None,
) -> Found:
    """Because you <interaction> ``item_id``: the ``target`` items, or the ``target`` entities.

    An interaction target is ``retrieval.neighbors``; an entity kind needs the item's
    (item, interaction) pair (UnknownItemError without it: an item vector is in another space).
    """
    if target not in ENTITY_KINDS:
        target_interaction = Interaction.parse(target)
        return neighbors(model, item_id, interaction, target_interaction, k, timer, hidden)
    row = model.row_of(item_id)
    if row is None:
        raise UnknownItemError(f"item {item_id!r} is not in model version {model.version}")
    token = int(model.item_token[row, int(interaction)])
    if token < 0:
        raise UnknownItemError(
            f"item {item_id!r} has no {interaction.label} pair in model version "
            f"{model.version}, so it has no vector among {target} tokens"
        )
    return _entities(model, token, target, k, Because("seed", item_id, interaction.label), timer)


def entity_neighbors(
    model: Model,
    kind: str,
    entity_id: str,
    target: str,
    k: int,
    timer: QueryTimer | None = None,
    hidden: HiddenItems | None = None,
) -> Found:
    """The ``target`` items (an interaction) or entities (a kind) nearest to an entity token."""
    _check_kind(model, kind)
    token = model.entity_token_of(kind, entity_id)
    if token is None:
        raise UnknownEntityError(f"{kind} {entity_id!r} is not in model version {model.version}")
    because = EntityBecause("seed", None, None, entity_kind=kind, entity_id=entity_id)
    if target in ENTITY_KINDS:
        return _entities(model, token, target, k, because, timer)
    return _items(model, token, Interaction.parse(target), k, because, timer, hidden)


def _check_kind(model: Model, kind: str) -> None:
    if kind not in model.entity_kinds:
        have = ", ".join(sorted(model.entity_kinds)) or "none"
        raise NoEntitiesError(
            f"model version {model.version} has no {kind} tokens (entity kinds: {have}); "
            "the trainer makes them with [entities] kinds"
        )


def _entities(
    model: Model, token: int, kind: str, k: int, because: Because, timer: QueryTimer | None
) -> list[EntityNeighbor]:
    """The ``kind`` entities nearest to ``token``'s vector, best first, never ``token``."""
    _check_kind(model, kind)
    if kind not in model.indexes:
        raise NotServedError(
            f"the {kind} index of version {model.version} is not loaded here (LIVE_INDEXES)"
        )
    query = np.asarray(model.pair_vectors[token : token + 1])
    labels, scores = query_index(model, kind, query, k + 1, timer)
    keep = labels[0] != token
    entities = (labels[0][keep][:k] - model.n_pairs).tolist()
    rounded = scores[0][keep][:k].astype(np.float64).round(6).tolist()
    kinds = [ENTITY_KINDS[c] for c in np.asarray(model.catalog.entity_kind_code)[entities].tolist()]
    ids = model.entity_ids.take(entities)
    return [
        EntityNeighbor(kind, entity, score, because)
        for kind, entity, score in zip(kinds, ids, rounded, strict=True)
    ]


def _items(
    model: Model,
    token: int,
    target: Interaction,
    k: int,
    because: Because,
    timer: QueryTimer | None,
    hidden: HiddenItems | None = None,
) -> list[Candidate]:
    """The ``target`` items nearest to an entity token (distinct: one pair per item), never a
    hidden one."""
    if target.label not in model.indexes:
        raise NotServedError(
            f"the {target.label} index of version {model.version} is not loaded here "
            "(LIVE_INDEXES), and entity seeds have no neighbour tables"
        )
    query = np.asarray(model.pair_vectors[token : token + 1])
    mask = hidden.mask(model) if hidden is not None else None
    depth = k if mask is None else k + int(mask.sum())
    labels, scores = query_index(
        model, target.label, query, min(depth, len(model.token_item)), timer
    )
    rows_all = model.token_item[labels[0]]
    keep = np.ones(len(rows_all), bool) if mask is None else ~mask[rows_all]
    rows = rows_all[keep][:k].tolist()
    rounded = scores[0][keep][:k].astype(np.float64).round(6).tolist()
    ids = model.item_ids_of(rows)
    return [
        Candidate(item, score, target.label, ENTITY, because)
        for item, score in zip(ids, rounded, strict=True)
    ]
