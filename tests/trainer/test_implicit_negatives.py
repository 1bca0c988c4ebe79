"""The blog's implicit negatives: items shown above a click and skipped.

A tiny log whose impressions are checked by hand: which shown items become negatives of which
click, in which order, and how many updates the kernel makes with them (window 1, no
subsampling, no random or paper negatives, so every (context, target) pair is known).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainer.config import DataConfig, NegativesConfig, SessionConfig, SGNSConfig, VocabConfig
from trainer.events import load_events
from trainer.negatives import build_tables
from trainer.sessions import sessionize
from trainer.sgns import train_sgns
from trainer.vocab import Vocab, build_vocab, encode_pairs

LOG = """user_id,item_id,interaction,timestamp,impressions
u1,a,view,1,
u1,b,view,2,x|c
u1,c,view,3,
u1,d,view,4,a| x |e|never-seen
u1,a,cart,5,
u2,x,view,100,
u2,e,view,101,
u2,f,view,102,
u2,g,view,103,
"""
EXACT = SGNSConfig(dim=8, window=1, epochs=1, sample=0.0, threads=1, negatives=0)
ONLY_IMPLICIT = NegativesConfig(hierarchy=False, taxonomy=False, implicit=True)
NONE = NegativesConfig(hierarchy=False, taxonomy=False, implicit=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    path = Path(tmp_path_factory.mktemp("implicit")) / "events.csv"
    path.write_text(LOG)
    log = load_events(path, DataConfig(), progress=False)
    sessions = sessionize(log, SessionConfig())
    vocab = build_vocab(sessions, log, VocabConfig())
    return log, sessions, vocab


def labels(vocab: Vocab, tokens: np.ndarray) -> list[str]:
    return [vocab.token_label(int(t)) for t in tokens]


def per_position(vocab: Vocab, corpus) -> dict[str, list[str]]:
    offsets, negatives = corpus.implicit
    out = {}
    for p, token in enumerate(corpus.tokens):
        found = negatives[offsets[p] : offsets[p + 1]]
        if len(found):
            out[vocab.token_label(int(token))] = labels(vocab, found)
    return out


def test_the_loader_splits_impressions_into_shown_items_of_their_click_row(world):
    log, _, _ = world
    shown = log.impressions
    pairs = [(int(r), str(shown.ids[i])) for r, i in zip(shown.row, shown.item, strict=True)]
    assert pairs == [(1, "x"), (1, "c"), (3, "a"), (3, "x"), (3, "e"), (3, "never-seen")]


def test_selecting_rows_keeps_the_impressions_of_the_kept_rows_renumbered(world):
    log, _, _ = world
    picked = log.select(np.array([3, 0]))
    assert picked.impressions.row.tolist() == [0, 0, 0, 0]
    assert [str(picked.impressions.ids[i]) for i in picked.impressions.item] == [
        "a", "x", "e", "never-seen"
    ]  # fmt: skip


def test_each_click_gets_the_view_pairs_of_its_skipped_items_nearest_first(world):
    log, sessions, vocab = world
    corpus = encode_pairs(sessions, vocab, log, implicit_max=10)
    # an unknown item ("never-seen") has no pair: dropped; order: last shown first
    assert per_position(vocab, corpus) == {"b:view": ["c:view", "x:view"],
                                           "d:view": ["e:view", "x:view", "a:view"]}  # fmt: skip


def test_implicit_max_keeps_the_items_shown_nearest_the_click(world):
    log, sessions, vocab = world
    corpus = encode_pairs(sessions, vocab, log, implicit_max=2)
    assert per_position(vocab, corpus)["d:view"] == ["e:view", "x:view"]


def test_without_implicit_max_the_corpus_carries_no_negatives(world):
    log, sessions, vocab = world
    assert encode_pairs(sessions, vocab, log).implicit is None


def test_the_kernel_uses_each_skipped_item_the_session_did_not_come_back_to(world):
    log, sessions, vocab = world
    corpus = encode_pairs(sessions, vocab, log, implicit_max=2)
    tables = build_tables(vocab)
    result = train_sgns(corpus, EXACT, tables, ONLY_IMPLICIT, progress=False)
    # b:view has contexts a:view and c:view and one negative (x; c is in the session): 2
    # d:view has contexts c:view and a:cart and two negatives (e, x): 4
    assert result.implicit_negatives == 6
    off = train_sgns(corpus, EXACT, tables, NONE, progress=False)
    assert off.implicit_negatives == 0
    assert result.positives == off.positives == 2 * (4 + 3)


def test_a_skipped_item_moves_away_from_the_contexts_of_its_click(world):
    log, sessions, vocab = world
    corpus = encode_pairs(sessions, vocab, log, implicit_max=10)
    tables = build_tables(vocab)
    config = SGNSConfig(dim=8, window=1, epochs=200, alpha=0.2, sample=0.0, threads=1, negatives=0)
    on = train_sgns(corpus, config, tables, ONLY_IMPLICIT, progress=False)
    off = train_sgns(corpus, config, tables, NONE, progress=False)
    token = {vocab.token_label(t): t for t in range(vocab.n_tokens)}
    context, skipped = token["c:view"], token["e:view"]  # e was shown above d, after c

    def score(result) -> float:
        return float(result.input[context] @ result.output[skipped])

    assert score(on) < -1.0 < score(off)
