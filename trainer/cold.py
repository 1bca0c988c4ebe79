"""Cold items: a vector for an item the model has never seen, from its category (issue 6).

Etsy's one-of-a-kind listings and the paper's coverage table: most items of a marketplace are
new or rare, and an item without a vector can be neither a seed nor found. An unseen item whose
category is known is searched with its category's vector: the learned category token when the
model has category tokens (``[entities]``), else the mean of the unit view vectors of the
category's items (Airbnb does the same for new listings from similar listings). The token wins
on both validation splits (docs/experiments.md "Cold items"); ``[cold] vector`` picks. A version
publishes the vectors (``cold/``) and ``cold>view`` and ``cold>cart`` tables, which the service
uses for a seed it does not know.
"""

from __future__ import annotations

import numpy as np

from contracts.catalog import ENTITY_KINDS
from contracts.interactions import Interaction
from contracts.search import unit_rows
from trainer.config import ColdVector
from trainer.vocab import Vocab


def cold_vectors(
    vocab: Vocab, pairs_in: np.ndarray, vector: ColdVector
) -> tuple[np.ndarray, np.ndarray]:
    """(codes into ``vocab.category_ids``, float32 vectors): the vector of each category with
    one, for items the model has never seen (``pairs_in``: the pair model's input vectors)."""
    views = np.flatnonzero(vocab.token_interaction == int(Interaction.VIEW))
    row_category = vocab.item_category[vocab.token_item[views]]
    categories, vectors = category_means(pairs_in[views], row_category, len(vocab.category_ids))
    if vector == "category_token":
        codes, rows = category_token_rows(vocab)
        categories, vectors = prefer_tokens(categories, vectors, codes, pairs_in[rows])
    return categories, vectors


def category_token_rows(vocab: Vocab) -> tuple[np.ndarray, np.ndarray]:
    """(code into ``vocab.category_ids``, pair-model row) of each category token."""
    at = np.flatnonzero(vocab.entities.kind == ENTITY_KINDS.index("category"))
    return vocab.entities.code[at].astype(np.int64), vocab.n_tokens + at


def category_means(
    vectors: np.ndarray, row_category: np.ndarray, n_categories: int
) -> tuple[np.ndarray, np.ndarray]:
    """(categories with a vector, float32 vector of each): the mean unit row per category.

    ``row_category`` is the category code of each row of ``vectors`` (-1: none, skipped).
    """
    known = row_category >= 0
    sums = np.zeros((n_categories, vectors.shape[1]), np.float64)
    np.add.at(sums, row_category[known], unit_rows(np.asarray(vectors)[known]))
    counts = np.bincount(row_category[known], minlength=n_categories)
    categories = np.flatnonzero(counts > 0)
    return categories, (sums[categories] / counts[categories, None]).astype(np.float32)


def prefer_tokens(
    categories: np.ndarray, means: np.ndarray, token_categories: np.ndarray, tokens: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(categories, float32 vectors): each category's learned token where it has one, else its
    mean; every category of either input, in ascending order."""
    both = np.union1d(categories, token_categories)
    vectors = np.zeros((len(both), means.shape[1]), np.float32)
    vectors[np.searchsorted(both, categories)] = means
    vectors[np.searchsorted(both, token_categories)] = tokens
    return both, vectors
