"""The blog's journey extensions in the SGNS kernel: importance weights and purchase context.

Tiny corpora with window 1 and no subsampling, so that which (context, target) pairs are
trained is fixed and can be counted by hand.
"""

from __future__ import annotations

import numpy as np

from contracts.interactions import Interaction
from trainer.config import JourneysConfig, NegativesConfig, SGNSConfig
from trainer.negatives import NegativeTables
from trainer.sgns import initial_input, train_sgns
from trainer.vocab import Corpus

V, C, P = int(Interaction.VIEW), int(Interaction.CART), int(Interaction.PURCHASE)
EXACT = SGNSConfig(dim=8, window=1, epochs=1, sample=0.0, threads=1, negatives=0)
OFF = NegativesConfig(hierarchy=False, taxonomy=False)


def corpus_of(sessions: list[list[int]], n_tokens: int) -> Corpus:
    tokens = np.concatenate([np.array(s, np.int32) for s in sessions])
    offsets = np.r_[0, np.cumsum([len(s) for s in sessions])].astype(np.int64)
    return Corpus(tokens, offsets, np.bincount(tokens, minlength=n_tokens))


def tables_of(interactions: list[int]) -> NegativeTables:
    """Token t is the pair (item t, interactions[t]); no categories."""
    n = len(interactions)
    item_token = np.full((n, 4), -1, np.int32)
    item_token[np.arange(n), interactions] = np.arange(n)
    return NegativeTables(
        token_item=np.arange(n, dtype=np.int32),
        token_interaction=np.array(interactions, np.int32),
        item_token=item_token,
        token_category=np.full(n, -1, np.int32),
        category_offsets=np.zeros(1, np.int64),
        category_view_tokens=np.zeros(0, np.int32),
    )


def train(sessions, interactions, journeys=None, config=EXACT):
    tables = tables_of(interactions)
    corpus = corpus_of(sessions, len(interactions))
    return train_sgns(corpus, config, tables, OFF, False, "test", journeys)


def test_without_journey_settings_window_one_trains_every_adjacent_pair():
    # 4 tokens → 3 adjacent pairs, each trained in both directions
    result = train([[0, 1, 2, 3]], [V, V, C, P])
    assert (result.positives, result.purchase_contexts) == (6, 0)


def test_a_zero_weight_interaction_takes_part_in_no_pair():
    interactions = [V, V, C, V]
    sessions = [[0, 1, 2, 3], [0, 1, 3]]
    weights = JourneysConfig(weights={"cart": 0.0})
    plain = train(sessions, interactions)
    weighted = train(sessions, interactions, weights)
    # pairs with the cart (token 2): (1,2), (2,1), (2,3), (3,2) of session one
    assert plain.positives - weighted.positives == 4
    assert np.array_equal(weighted.output[2], np.zeros(8, np.float32))  # never a target
    assert np.abs(plain.output[2]).sum() > 0  # but it was without the weight
    assert np.array_equal(weighted.input[2], initial_input(len(interactions), EXACT)[2])


def test_sessions_with_a_purchase_weigh_what_purchase_session_weight_says():
    interactions = [V, V, P, V, V]
    sessions = [[0, 1, 2], [3, 4]]  # only the first holds a purchase
    muted = train(sessions, interactions, JourneysConfig(purchase_session_weight=0.0))
    assert muted.positives == 2  # the second session's (3,4) and (4,3)
    for token in (0, 1, 2):
        assert np.array_equal(muted.input[token], initial_input(5, EXACT)[token])
    doubled = train(sessions, interactions, JourneysConfig(purchase_session_weight=2.0))
    plain = train(sessions, interactions)
    step = np.abs(doubled.output[1]).sum(), np.abs(plain.output[1]).sum()
    assert np.isclose(step[0], 2 * step[1], rtol=1e-3)  # first update of v starts at zero


def test_every_position_gets_the_sessions_purchases_as_contexts():
    interactions = [V, V, V, V, P, P]
    sessions = [[0, 1, 2, 3, 4, 5, 4], [0, 1, 2]]
    result = train(sessions, interactions, JourneysConfig(purchase_context=True))
    # session one: 7 positions x 2 distinct purchases, minus each purchase's own positions
    # (token 4 twice, token 5 once) -> 14 - 3 = 11; session two has no purchase
    assert result.purchase_contexts == 11
    assert result.positives == train(sessions, interactions).positives


def test_purchase_context_learns_what_the_first_view_leads_to_beyond_the_window():
    """Sessions open with a view of item a_k, wander through random views, and end buying
    b_k: only the purchase context can link (a_k, view) to (b_k, purchase)."""
    pairs, fillers, rng = 10, 40, np.random.default_rng(3)
    first, bought = np.arange(pairs), pairs + np.arange(pairs)
    filler = 2 * pairs + np.arange(fillers)
    interactions = [V] * pairs + [P] * pairs + [V] * fillers
    sessions = []
    for _ in range(3000):
        k = rng.integers(pairs)
        sessions.append([first[k], *rng.choice(filler, 8, replace=False), bought[k]])
    config = SGNSConfig(dim=16, window=2, epochs=3, threads=1, negatives=5, sample=0.0)

    def margin(journeys):
        result = train(sessions, interactions, journeys, config)
        scores = result.input[first] @ result.output[bought].T
        return float(np.diag(scores).mean() - scores[~np.eye(pairs, dtype=bool)].mean())

    assert margin(None) < 0.5
    assert margin(JourneysConfig(purchase_context=True)) > margin(None) + 2.0
