"""The co-purchase baseline on a tiny log whose matrix is worked out by hand.

Purchases (user, item, second): u1 buys A at 0, B at 100, C at 1,000,000; u2 buys A at 0 and
B at 50; u3 buys B at 0 and C at 10; u4 buys D alone. With a one-hour window the co-purchase
matrix (diagonal = purchases of the item) is

        A  B  C  D
    A [ 2  2  0  0 ]     |A| = √8,  |B| = √14,  |C| = √5
    B [ 2  3  1  0 ]     cos(A, B) = 10 / √112 ≈ 0.945
    C [ 0  1  2  0 ]     cos(B, C) =  5 / √70  ≈ 0.598
    D [ 0  0  0  1 ]     cos(A, C) =  2 / √40  ≈ 0.316  (never bought together: via B)
"""

from __future__ import annotations

import numpy as np
import pytest

from contracts.interactions import Interaction
from trainer.evaluation.copurchase import copurchase_counts, copurchase_generator, cosine_top_k

A, B, C, D = 0, 1, 2, 3
USER = np.array([1, 1, 1, 2, 2, 3, 3, 4])
ITEM = np.array([A, B, C, A, B, B, C, D])
TIME = np.array([0, 100, 1_000_000, 0, 50, 0, 10, 0])
HOUR = 3600.0


def dense(counts, n: int = 4) -> np.ndarray:
    matrix = np.zeros((n, n))
    matrix[counts.row, counts.col] = counts.value
    return matrix


def test_counts_pair_purchases_of_one_user_within_the_window_plus_the_diagonal():
    matrix = dense(copurchase_counts(USER, ITEM, TIME, HOUR))
    assert matrix.tolist() == [[2, 2, 0, 0], [2, 3, 1, 0], [0, 1, 2, 0], [0, 0, 0, 1]]


def test_a_longer_window_pairs_purchases_days_apart():
    matrix = dense(copurchase_counts(USER, ITEM, TIME, 30 * 24 * HOUR))
    assert matrix[A, C] == 1 and matrix[B, C] == 2


def test_the_same_item_bought_twice_adds_to_the_diagonal_only():
    matrix = dense(copurchase_counts(np.array([1, 1]), np.array([A, A]), np.array([0, 5]), HOUR))
    assert matrix[A, A] == 2 and matrix.sum() == 2


def test_neighbours_are_ranked_by_cosine_of_the_rows():
    queries, items, scores = cosine_top_k(copurchase_counts(USER, ITEM, TIME, HOUR), k=3)
    assert queries.tolist() == [A, B, C, D]
    assert items.tolist() == [[B, C, -1], [A, C, -1], [B, A, -1], [-1, -1, -1]]
    assert scores[0, :2] == pytest.approx([10 / np.sqrt(112), 2 / np.sqrt(40)])
    assert scores[1, 1] == pytest.approx(5 / np.sqrt(70))


def test_the_generator_answers_only_items_with_a_co_purchase():
    interaction = np.r_[np.full(len(ITEM), int(Interaction.PURCHASE)), int(Interaction.VIEW)]
    user, item, ts = np.r_[USER, 7], np.r_[ITEM, 4], np.r_[TIME, 0]  # user 7 only views item 4
    generator = copurchase_generator(user, item, interaction, ts, HOUR, n_items=6, k=2)
    got = generator.candidates(np.array([A, C, D, 4, 5]), k=2)
    assert got.items.tolist() == [[B, C], [B, A], [-1, -1], [-1, -1], [-1, -1]]
