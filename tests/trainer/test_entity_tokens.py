"""Entities beyond items: query, category and shop tokens in the pair model's sessions.

A tiny log whose token sequence is written out by hand: each pair is preceded by the
entities that are new at that point of its session, in the order query, category, shop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainer.config import DataConfig, EntitiesConfig, SessionConfig, VocabConfig
from trainer.events import load_events
from trainer.negatives import ENTITY, build_tables, session_negatives
from trainer.sessions import sessionize
from trainer.vocab import Vocab, build_vocab, encode_pairs

LOG = """user_id,item_id,interaction,timestamp,category_id,shop_id,query
u1,a,view,1,c1,s1,Red  Shoes
u1,b,view,2,c1,s1,
u1,c,view,3,c2,s2,
u1,c,cart,4,c2,s2,
u1,a,purchase,5,c1,s1,
u2,d,view,100,c1,s3,red shoes
u2,b,view,101,c1,s1,
u2,e,view,102,c3,s3,boots
u2,d,view,103,c1,s3,
"""
ALL = EntitiesConfig(kinds=["query", "category", "shop"], min_count={"query": 1})


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory):
    path = Path(tmp_path_factory.mktemp("entities")) / "events.csv"
    path.write_text(LOG)
    log = load_events(path, DataConfig(), progress=False)
    return log, sessionize(log, SessionConfig())


def label(vocab: Vocab, token: int) -> str:
    if token < vocab.n_tokens:
        return vocab.token_label(token)
    e = token - vocab.n_tokens
    return f"{vocab.entities.kind_labels()[e]}={vocab.entities.ids[e]}"


def sequences(vocab: Vocab, corpus) -> list[list[str]]:
    bounds = corpus.offsets
    return [
        [label(vocab, int(t)) for t in corpus.tokens[bounds[s] : bounds[s + 1]]]
        for s in range(len(bounds) - 1)
    ]


def test_queries_are_read_normalised_lower_case_with_single_spaces(loaded):
    log, _ = loaded
    assert sorted(map(str, log.query_ids)) == ["boots", "red shoes"]


def test_each_pair_is_preceded_by_the_entities_new_at_that_point(loaded):
    log, sessions = loaded
    vocab = build_vocab(sessions, log, VocabConfig(), ALL)
    assert sequences(vocab, encode_pairs(sessions, vocab, log)) == [
        ["query=red shoes", "category=c1", "shop=s1", "a:view", "b:view",
         "category=c2", "shop=s2", "c:view", "c:cart",
         "category=c1", "shop=s1", "a:purchase"],
        ["query=red shoes", "category=c1", "shop=s3", "d:view", "shop=s1", "b:view",
         "query=boots", "category=c3", "shop=s3", "e:view",
         "category=c1", "d:view"],
    ]  # fmt: skip


def test_only_the_configured_kinds_become_tokens_each_with_its_own_minimum_count(loaded):
    log, sessions = loaded
    config = EntitiesConfig(kinds=["query", "shop"], min_count={"query": 2, "shop": 3})
    vocab = build_vocab(sessions, log, VocabConfig(), config)
    # counted where new in a session: red shoes 2, boots 1; s1 3, s3 2, s2 1
    assert sorted(map(label, [vocab] * len(vocab.entities), range(vocab.n_tokens, vocab.size))) == [
        "query=red shoes", "shop=s1"
    ]  # fmt: skip
    first = sequences(vocab, encode_pairs(sessions, vocab, log))[0]
    assert first[:4] == ["query=red shoes", "shop=s1", "a:view", "b:view"]


def test_without_entities_the_corpus_is_the_pairs_alone(loaded):
    log, sessions = loaded
    vocab = build_vocab(sessions, log, VocabConfig())
    assert len(vocab.entities) == 0
    assert all(":" in t for s in sequences(vocab, encode_pairs(sessions, vocab, log)) for t in s)


def test_entity_tokens_have_no_custom_negatives_and_are_never_one(loaded):
    log, sessions = loaded
    vocab = build_vocab(sessions, log, VocabConfig(), ALL)
    tables = build_tables(vocab)
    entities = np.arange(vocab.n_tokens, vocab.size)
    assert (tables.token_interaction[entities] == ENTITY).all()
    corpus = encode_pairs(sessions, vocab, log)
    first = corpus.tokens[corpus.offsets[0] : corpus.offsets[1]]
    for token, (hierarchy, taxonomy) in zip(
        first, session_negatives(first, tables, 2), strict=True
    ):
        if token >= vocab.n_tokens:
            assert hierarchy == taxonomy == []
        assert all(n < vocab.n_tokens for n in hierarchy + taxonomy)
