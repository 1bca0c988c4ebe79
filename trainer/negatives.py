"""The paper's custom negatives (section 4.1.1), as tables and numba helpers for the SGNS kernel.

For a pair p = (ℓ, i) of a session S:

* **hierarchy negatives** — (ℓ, j) for every interaction j above i (purchase > cart > favorite >
  view) such that (ℓ, j) is not in S. A viewed-and-carted item gets a negative purchase.
* **taxonomy negatives** — when ℓ was *only viewed* in S: ``taxonomy_count`` pairs (ℓ', view)
  with ℓ' drawn uniformly from the items of ℓ's category (never ℓ itself), since hierarchy
  negatives can never be views.

Only pairs that are in the vocabulary can be negatives; "in S" is judged on the encoded session.
Where they enter the loss is the kernel's business: see ``trainer/sgns.py`` and docs/training.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from contracts.interactions import N_INTERACTIONS, Interaction
from trainer.vocab import Vocab

VIEW = int(Interaction.VIEW)


@dataclass(frozen=True)
class NegativeTables:
    """Lookup arrays for the kernel; all int32/int64 so numba sees one signature."""

    token_item: np.ndarray  # int32 (n_tokens,)
    token_interaction: np.ndarray  # int32 (n_tokens,)
    item_token: np.ndarray  # int32 (n_items, N_INTERACTIONS), -1 where absent
    token_category: np.ndarray  # int32 (n_tokens,), -1 when the item has no category
    category_offsets: np.ndarray  # int64 (n_categories + 1,): CSR over categories
    category_view_tokens: np.ndarray  # int32: the view tokens of each category's items

    @staticmethod
    def empty() -> NegativeTables:
        """Tables that yield no custom negative (the no-interaction model)."""
        z32 = np.zeros(0, np.int32)
        return NegativeTables(
            z32, z32, np.zeros((0, N_INTERACTIONS), np.int32), z32, np.zeros(1, np.int64), z32
        )

    @staticmethod
    def toy(n_tokens: int) -> NegativeTables:
        """Valid tables for tokens 0..n-1: each the view of its own item, all in one category."""
        tokens = np.arange(n_tokens, dtype=np.int32)
        item_token = np.full((n_tokens, N_INTERACTIONS), -1, dtype=np.int32)
        item_token[:, VIEW] = tokens
        return NegativeTables(
            token_item=tokens,
            token_interaction=np.zeros(n_tokens, np.int32),
            item_token=item_token,
            token_category=np.zeros(n_tokens, np.int32),
            category_offsets=np.array([0, n_tokens], np.int64),
            category_view_tokens=tokens,
        )


ENTITY = N_INTERACTIONS  # the token_interaction of entity tokens: no hierarchy, no taxonomy


def build_tables(vocab: Vocab) -> NegativeTables:
    """The lookup tables of ``vocab``'s pairs, items and categories.

    Entity tokens (after the pairs) get interaction ``ENTITY`` and no category, so they have
    no custom negatives and are never one.
    """
    n_categories = len(vocab.category_ids)
    n_entities = len(vocab.entities)
    token_category = vocab.item_category[vocab.token_item].astype(np.int32)
    token_category = np.r_[token_category, np.full(n_entities, -1, np.int32)]
    token_interaction = np.r_[vocab.token_interaction, np.full(n_entities, ENTITY)]
    is_view = (token_interaction == VIEW) & (token_category >= 0)
    view_tokens = np.flatnonzero(is_view).astype(np.int32)
    view_tokens = view_tokens[np.argsort(token_category[view_tokens], kind="stable")]
    per_category = np.bincount(token_category[view_tokens], minlength=n_categories)
    offsets = np.zeros(n_categories + 1, dtype=np.int64)
    np.cumsum(per_category, out=offsets[1:])
    return NegativeTables(
        token_item=np.r_[vocab.token_item, np.zeros(n_entities, np.int32)].astype(np.int32),
        token_interaction=token_interaction.astype(np.int32),
        item_token=vocab.item_token.astype(np.int32),
        token_category=token_category,
        category_offsets=offsets,
        category_view_tokens=view_tokens,
    )


@njit(cache=True, nogil=True)
def hierarchy_negatives(token, token_item, token_interaction, item_token, mark, stamp, out):
    """Write (ℓ, j) for j above token's interaction and absent from the session; return count.

    ``mark[t] == stamp`` means token t occurs in the current session.
    """
    item = token_item[token]
    n = 0
    for j in range(token_interaction[token] + 1, item_token.shape[1]):
        other = item_token[item, j]
        if other >= 0 and mark[other] != stamp:
            out[n] = other
            n += 1
    return n


@njit(cache=True, nogil=True)
def only_viewed(token, token_item, token_interaction, item_token, mark, stamp):
    """True when token is a view and no other interaction with its item is in the session."""
    if token_interaction[token] != VIEW:
        return False
    item = token_item[token]
    for j in range(1, item_token.shape[1]):
        other = item_token[item, j]
        if other >= 0 and mark[other] == stamp:
            return False
    return True


@njit(cache=True, nogil=True)
def taxonomy_negatives(token, count, token_category, offsets, view_tokens, rng, out, start):
    """Write up to ``count`` view tokens of token's category other than token; return (n, rng).

    Draws are uniform over the category's viewed items; a draw of token itself is retried a
    few times, so a category holding only this item yields nothing.
    """
    category = token_category[token]
    n = 0
    if category < 0:
        return n, rng
    lo = offsets[category]
    size = offsets[category + 1] - lo
    if size < 2:
        return n, rng
    for _ in range(count):
        for _attempt in range(8):
            rng = rng * np.uint64(25214903917) + np.uint64(11)
            candidate = view_tokens[lo + np.int64((rng >> np.uint64(16)) % np.uint64(size))]
            if candidate != token:
                out[start + n] = candidate
                n += 1
                break
    return n, rng


def session_negatives(
    session: np.ndarray,
    tables: NegativeTables,
    taxonomy_count: int,
    seed: int = 1,
) -> list[tuple[list[int], list[int]]]:
    """(hierarchy, taxonomy) negatives of every position of one session — for tests and docs.

    Uses the same numba helpers as the training kernel.
    """
    n_tokens = len(tables.token_item)
    mark = np.zeros(n_tokens, dtype=np.int64)
    mark[session] = 1
    rng = np.uint64(seed)
    out = np.zeros(N_INTERACTIONS + taxonomy_count, dtype=np.int32)
    result = []
    for token in session:
        n_h = hierarchy_negatives(
            token, tables.token_item, tables.token_interaction, tables.item_token, mark, 1, out
        )
        hierarchy = [int(t) for t in out[:n_h]]
        taxonomy: list[int] = []
        if only_viewed(
            token, tables.token_item, tables.token_interaction, tables.item_token, mark, 1
        ):
            n_t, rng = taxonomy_negatives(
                token,
                taxonomy_count,
                tables.token_category,
                tables.category_offsets,
                tables.category_view_tokens,
                rng,
                out,
                0,
            )
            taxonomy = [int(t) for t in out[:n_t]]
            rng = np.uint64(rng)
        result.append((hierarchy, taxonomy))
    return result
