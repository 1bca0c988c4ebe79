"""The paper's custom negatives on hand-made sessions."""

from __future__ import annotations

import numpy as np

from trainer.config import SessionConfig, VocabConfig
from trainer.negatives import build_tables, session_negatives
from trainer.sessions import sessionize
from trainer.vocab import build_vocab, encode_pairs

ALL = VocabConfig(min_count={"view": 1})


def vocab_of(make_log, sessions_rows):
    rows = []
    for s, pairs in enumerate(sessions_rows):
        rows += [
            ("u", item, inter, s * 9000 + k, cat) for k, (item, inter, cat) in enumerate(pairs)
        ]
    log = make_log(rows)
    sessions = sessionize(log, SessionConfig(min_pairs=2))
    vocab = build_vocab(sessions, log, ALL)
    return vocab, encode_pairs(sessions, vocab, log)


def token(vocab, label):
    return next(t for t in range(vocab.n_tokens) if vocab.token_label(t) == label)


def test_the_papers_example_session_gets_exactly_the_papers_negatives(make_log):
    every_pair = [
        (item, inter, "c")
        for item in ("l1", "l2")
        for inter in ("view", "favorite", "cart", "purchase")
    ]
    vocab, _ = vocab_of(make_log, [every_pair])
    example = [("l1", "view"), ("l2", "favorite"), ("l1", "purchase")]
    session = np.array([token(vocab, f"{i}:{x}") for i, x in example], dtype=np.int32)
    result = session_negatives(session, build_tables(vocab), taxonomy_count=2)
    hierarchy = {vocab.token_label(t) for h, _ in result for t in h}
    assert hierarchy == {"l1:favorite", "l1:cart", "l2:cart", "l2:purchase"}
    assert [[vocab.token_label(t) for t in h] for h, _ in result] == [
        ["l1:favorite", "l1:cart"],
        ["l2:cart", "l2:purchase"],
        [],
    ]
    assert all(t == [] for _, t in result)


def test_pairs_missing_from_the_vocabulary_are_never_negatives(make_log):
    vocab, _ = vocab_of(make_log, [[("a", "view", "c"), ("a", "cart", "c"), ("b", "view", "c")]])
    session = np.array([token(vocab, "a:view"), token(vocab, "b:view")], dtype=np.int32)
    result = session_negatives(session, build_tables(vocab), taxonomy_count=0)
    assert [[vocab.token_label(t) for t in h] for h, _ in result] == [["a:cart"], []]


def test_only_viewed_items_get_taxonomy_negatives_from_their_category_never_themselves(make_log):
    shoes = [(f"s{k}", "view", "shoes") for k in range(6)]
    hats = [(f"h{k}", "view", "hats") for k in range(6)]
    vocab, _ = vocab_of(make_log, [shoes, hats, [("s0", "cart", "shoes"), ("h0", "view", "hats")]])
    tables = build_tables(vocab)
    s0_view, s1_view = token(vocab, "s0:view"), token(vocab, "s1:view")
    for seed in range(1, 40):
        result = session_negatives(np.array([s0_view, s1_view]), tables, 2, seed=seed)
        (_, tax0), (_, tax1) = result
        assert len(tax0) == 2 and len(tax1) == 2
        for negative, own in [(t, s0_view) for t in tax0] + [(t, s1_view) for t in tax1]:
            assert negative != own
            assert vocab.token_label(negative).endswith(":view")
            assert vocab.token_label(negative).startswith("s")


def test_a_viewed_and_carted_item_gets_no_taxonomy_negatives(make_log):
    vocab, _ = vocab_of(
        make_log, [[(f"s{k}", "view", "shoes") for k in range(4)] + [("s0", "cart", "shoes")]]
    )
    session = np.array([token(vocab, "s0:view"), token(vocab, "s0:cart")], dtype=np.int32)
    result = session_negatives(session, build_tables(vocab), taxonomy_count=2)
    assert result[0][1] == []


def test_taxonomy_draws_cover_the_category_uniformly(make_log):
    shoes = [(f"s{k}", "view", "shoes") for k in range(5)]
    vocab, _ = vocab_of(make_log, [shoes])
    tables = build_tables(vocab)
    s0 = token(vocab, "s0:view")
    drawn = []
    for seed in range(1, 400):
        drawn += session_negatives(np.array([s0]), tables, 2, seed=seed)[0][1]
    counts = np.bincount(drawn, minlength=vocab.n_tokens)
    others = [token(vocab, f"s{k}:view") for k in range(1, 5)]
    assert counts[s0] == 0
    assert all(150 < counts[t] < 250 for t in others)
