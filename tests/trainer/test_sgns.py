"""The SGNS kernel: reproducibility, accounting, and that it learns co-occurrence."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.config import NegativesConfig, SGNSConfig
from trainer.negatives import NegativeTables
from trainer.sgns import _add, _exp_table, _input_vector, _update, epochs_for, train_sgns
from trainer.vocab import Corpus


def two_worlds(sessions: int = 3000, length: int = 8, seed: int = 0) -> Corpus:
    """Tokens 0..49 only co-occur with each other, and 50..99 likewise."""
    rng = np.random.default_rng(seed)
    world = rng.integers(0, 2, size=sessions)
    tokens = (rng.integers(0, 50, size=(sessions, length)) + 50 * world[:, None]).ravel()
    offsets = np.arange(0, sessions * length + 1, length, dtype=np.int64)
    return Corpus(tokens.astype(np.int32), offsets, np.bincount(tokens, minlength=100))


def cosine(m: np.ndarray) -> np.ndarray:
    unit = m / np.linalg.norm(m, axis=1, keepdims=True)
    return unit @ unit.T


SMALL = SGNSConfig(dim=16, epochs=2, threads=1)


def test_one_thread_with_a_seed_is_bit_for_bit_reproducible():
    corpus = two_worlds()
    a = train_sgns(corpus, SMALL, progress=False)
    b = train_sgns(corpus, SMALL, progress=False)
    assert np.array_equal(a.input, b.input)
    assert np.array_equal(a.output, b.output)


def test_another_seed_gives_other_vectors():
    corpus = two_worlds()
    a = train_sgns(corpus, SMALL, progress=False)
    b = train_sgns(corpus, SMALL.model_copy(update={"seed": 2}), progress=False)
    assert not np.array_equal(a.input, b.input)


@pytest.mark.parametrize("threads", [1, 2])
def test_tokens_that_co_occur_end_up_closer_than_tokens_that_never_do(threads):
    config = SMALL.model_copy(update={"threads": threads, "epochs": 3})
    sim = cosine(train_sgns(two_worlds(), config, progress=False).input)
    within = (sim[:50, :50].mean() + sim[50:, 50:].mean()) / 2
    across = sim[:50, 50:].mean()
    assert within - across > 0.5


def test_tokens_counts_every_epoch_before_subsampling():
    corpus = two_worlds(sessions=100)
    result = train_sgns(corpus, SMALL.model_copy(update={"epochs": 3}), progress=False)
    assert result.tokens == 3 * 800
    assert result.threads == 1 and result.epochs == 3
    assert result.seconds > 0 and result.positives > 0


def test_without_custom_negatives_none_are_counted():
    result = train_sgns(two_worlds(sessions=100), SMALL, progress=False)
    assert result.hierarchy_negatives == 0 and result.taxonomy_negatives == 0


def item_a_world(bought: int, bought_with: tuple[int, int]) -> tuple[Corpus, NegativeTables]:
    """Tokens: 0 = (a, view), 1 = (a, purchase), 2..17 = views of other items. 2,000 sessions
    view a with context 2..9; ``bought`` sessions buy it with context drawn from ``bought_with``."""
    rng = np.random.default_rng(0)
    sessions = [np.r_[0, rng.integers(2, 10, size=5)] for _ in range(2000)]
    sessions += [np.r_[1, rng.integers(*bought_with, size=5)] for _ in range(bought)]
    tokens = np.concatenate(sessions).astype(np.int32)
    corpus = Corpus(tokens, np.arange(0, len(tokens) + 1, 6), np.bincount(tokens, minlength=18))
    tables = NegativeTables(
        token_item=np.r_[0, 0, np.arange(1, 17)].astype(np.int32),
        token_interaction=np.r_[0, 3, np.zeros(16)].astype(np.int32),
        item_token=np.c_[
            np.r_[0, np.arange(2, 18)], np.full((17, 2), -1), np.r_[1, np.full(16, -1)]
        ].astype(np.int32),
        token_category=np.full(18, -1, dtype=np.int32),
        category_offsets=np.zeros(1, dtype=np.int64),
        category_view_tokens=np.zeros(0, dtype=np.int32),
    )
    return corpus, tables


def test_hierarchy_negatives_push_the_unseen_interaction_away():
    """Tokens: 0 = (a, view), 1 = (a, purchase), 2..17 = views of other items.

    Item a is viewed with context 2..9 in many sessions and bought with it in a few; with
    hierarchy negatives ("viewed here, not bought") that context must score (a, purchase)
    lower than without them.
    """
    corpus, tables = item_a_world(bought=300, bought_with=(2, 10))
    on = NegativesConfig(hierarchy=True, taxonomy=False, hierarchy_weight=2.0)
    off = NegativesConfig(hierarchy=False, taxonomy=False)
    config = SMALL.model_copy(update={"sample": 0.0, "epochs": 5})
    with_neg = train_sgns(corpus, config, tables, on, progress=False)
    without = train_sgns(corpus, config, tables, off, progress=False)
    assert with_neg.hierarchy_negatives > 0

    def purchase_score(result):
        return float((result.input[2:10] @ result.output[1]).mean())

    assert purchase_score(with_neg) < purchase_score(without) - 0.3


def test_a_composed_step_moves_the_sum_as_an_independent_vector_would():
    """One logistic step on composed vectors (trainer/sgns.py): the score is the dot product of
    the summed input and output vectors, the gradient is split evenly over each sum's parts,
    and the sums move exactly as an independent vector's would."""
    rng = np.random.default_rng(3)
    dim = 8
    u, u_shared = rng.normal(size=(2, dim)).astype(np.float32), rng.normal(size=(1, dim))
    v, v_shared = rng.normal(size=(2, dim)).astype(np.float32), rng.normal(size=(1, dim))
    u_shared, v_shared = u_shared.astype(np.float32), v_shared.astype(np.float32)
    share = np.array([[0, -1], [0, -1]], np.int32)  # both tokens are pairs of item 0
    h_before = u[0] + u_shared[0]
    out_before = v[1] + v_shared[0]
    own_before, shared_before = v[1].copy(), v_shared[0].copy()
    lr, label = np.float32(0.1), np.float32(1.0)
    neu1e = np.zeros(dim, np.float32)
    h = _input_vector(u, u_shared, share, 0, np.zeros(dim, np.float32))
    np.testing.assert_allclose(h, h_before, rtol=1e-6)
    _update(h, v, v_shared, share, 1, label, lr, neu1e, _exp_table(), np.zeros(dim, np.float32))
    f = float(h_before @ out_before)
    g = (1.0 - 1.0 / (1.0 + np.exp(-f))) * 0.1  # (label − σ(f))·lr, σ from a 1000-step table
    np.testing.assert_allclose(neu1e, g * out_before, rtol=0.02, atol=1e-3)
    np.testing.assert_allclose(v[1] + v_shared[0], out_before + g * h_before, rtol=0.02, atol=1e-3)
    half = g * h_before / 2  # each part of the output sum took half of the step
    np.testing.assert_allclose(v[1] - own_before, half, rtol=0.02, atol=1e-4)
    np.testing.assert_allclose(v_shared[0] - shared_before, half, rtol=0.02, atol=1e-4)
    _add(u, u_shared, share, 0, neu1e, np.float32(1.0))
    np.testing.assert_allclose(u[0] + u_shared[0], h_before + neu1e, rtol=1e-5, atol=1e-6)


def test_a_rare_pair_of_a_composed_model_starts_from_what_its_item_learned():
    """(a, purchase) occurs in 3 sessions, (a, view) in 2,000 with the same context: composed,
    the purchase vector shares the item's part and lands near the view vector; independent,
    it stays much farther away."""
    corpus, tables = item_a_world(bought=3, bought_with=(10, 18))
    off = NegativesConfig(hierarchy=False, taxonomy=False)
    similarity = {}
    for mode in ("independent", "item"):
        config = SMALL.model_copy(update={"sample": 0.0, "epochs": 3, "pair_vectors": mode})
        result = train_sgns(corpus, config, tables, off, progress=False)
        similarity[mode] = cosine(result.input)[0, 1]
    assert similarity["item"] > 0.5
    assert similarity["item"] > similarity["independent"] + 0.3


def test_auto_epochs_grow_as_pairs_recur_less():
    """sgns.epochs = "auto" alone (no validation split): auto_passes over the mean count."""
    sparse = Corpus(np.arange(100, dtype=np.int32), np.array([0, 100]), np.ones(100, np.int64))
    dense = Corpus(np.zeros(100, np.int32), np.array([0, 100]), np.r_[100, np.zeros(99, np.int64)])
    config = SGNSConfig(epochs="auto", auto_passes=40, auto_max_epochs=160)
    assert epochs_for(sparse, config) == 40
    assert epochs_for(dense, config) == 1
    assert epochs_for(sparse, config.model_copy(update={"auto_max_epochs": 12})) == 12
    assert epochs_for(sparse, config.model_copy(update={"epochs": 7})) == 7
