"""The vocabulary: per-interaction thresholds, categories, and corpus encoding."""

from __future__ import annotations

from trainer.config import SessionConfig, VocabConfig
from trainer.sessions import sessionize
from trainer.vocab import build_vocab, encode_items, encode_pairs


def session(user, pairs, category="c", t0=0):
    return [(user, item, inter, t0 + k, category) for k, (item, inter) in enumerate(pairs)]


def labels(vocab) -> set[str]:
    return {vocab.token_label(t) for t in range(vocab.n_tokens)}


def test_thresholds_apply_per_interaction_type(make_log):
    rows = session("u", [("a", "view"), ("b", "view"), ("a", "cart"), ("c", "view")])
    rows += session("v", [("a", "view"), ("d", "view"), ("e", "view"), ("d", "purchase")])
    log = make_log(rows)
    config = VocabConfig(min_count={"view": 2})
    vocab = build_vocab(sessionize(log, SessionConfig()), log, config)
    assert labels(vocab) == {"a:view", "a:cart", "d:purchase"}


def test_lowering_the_view_threshold_keeps_single_views(make_log):
    rows = session("u", [("a", "view"), ("b", "view"), ("c", "view"), ("d", "view")])
    log = make_log(rows)
    config = VocabConfig(min_count={"view": 1})
    vocab = build_vocab(sessionize(log, SessionConfig()), log, config)
    assert labels(vocab) == {"a:view", "b:view", "c:view", "d:view"}


def test_item_min_count_removes_the_item_and_all_its_pairs(make_log):
    rows = session("u", [("a", "view"), ("b", "view"), ("a", "cart"), ("c", "purchase")])
    log = make_log(rows)
    config = VocabConfig(min_count={"view": 1}, item_min_count=2)
    vocab = build_vocab(sessionize(log, SessionConfig()), log, config)
    assert [str(i) for i in vocab.item_ids] == ["a"]
    assert labels(vocab) == {"a:view", "a:cart"}


def test_tokens_are_ordered_by_count_and_item_token_indexes_them(make_log):
    rows = session("u", [("a", "view"), ("b", "view"), ("a", "cart"), ("b", "view")], t0=0)
    rows += session("u", [("b", "view"), ("a", "view"), ("b", "cart"), ("b", "view")], t0=9000)
    log = make_log(rows, on_bad_rows="fail")
    vocab = build_vocab(sessionize(log, SessionConfig()), log, VocabConfig())
    assert vocab.token_label(0) == "b:view"
    assert list(vocab.token_count) == sorted(vocab.token_count, reverse=True)
    for token in range(vocab.n_tokens):
        row = vocab.token_item[token]
        assert vocab.item_token[row, vocab.token_interaction[token]] == token


def test_an_item_keeps_its_most_frequent_category(make_log):
    rows = [("u", "a", "view", 0, "x"), ("u", "b", "view", 1, "y"), ("u", "a", "cart", 2, "y")]
    rows += [("u", "a", "purchase", 3, "y")]
    log = make_log(rows)
    vocab = build_vocab(sessionize(log, SessionConfig()), log, VocabConfig())
    row = list(vocab.item_ids).index("a")
    assert vocab.category_ids[vocab.item_category[row]] == "y"


def test_encoding_drops_out_of_vocabulary_pairs_and_too_short_sessions(make_log):
    rows = session("u", [("a", "view"), ("b", "view"), ("a", "cart"), ("c", "view")], t0=0)
    rows += session("u", [("a", "view"), ("x", "view"), ("y", "view"), ("z", "view")], t0=9000)
    log = make_log(rows)
    sessions = sessionize(log, SessionConfig())
    vocab = build_vocab(sessions, log, VocabConfig(min_count={"view": 2}))
    pairs = encode_pairs(sessions, vocab, log)
    assert len(pairs) == 1
    assert [vocab.token_label(t) for t in pairs.tokens] == ["a:view", "a:cart"]
    assert pairs.counts.sum() == 2


def test_the_item_corpus_collapses_an_item_repeated_across_interactions(make_log):
    rows = session("u", [("a", "view"), ("a", "cart"), ("b", "view"), ("a", "purchase")])
    log = make_log(rows)
    sessions = sessionize(log, SessionConfig())
    vocab = build_vocab(sessions, log, VocabConfig())
    items = encode_items(sessions, vocab, log)
    assert [str(vocab.item_ids[t]) for t in items.tokens] == ["a", "b", "a"]
