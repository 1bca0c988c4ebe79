"""gensim's Word2Vec on the no-interaction corpus: an outside reference for our SGNS kernel.

Same sessions, same item tokens (``trainer.vocab.encode_items``), same hyper-parameters
(skip-gram, dim, window, negatives, ns_exponent, sample, alpha, min_alpha, epochs, seed,
threads). Our no-interaction model should score within ±10 % of it (relative, purchase hit
rate@200): evidence that the kernel — including its window-shared random negatives — learns
what word2vec learns. gensim is an optional extra (``pip install '.[bench]'``), never a
runtime dependency: without it this model is skipped and the report says so.
"""

from __future__ import annotations

import time

import numpy as np

from trainer.config import SGNSConfig
from trainer.sgns import epochs_for, resolve_threads
from trainer.vocab import Corpus


class GensimMissingError(RuntimeError):
    """gensim is not installed; ``pip install 'interaction-candidates[bench]'`` adds it."""


def gensim_available() -> bool:
    try:
        import gensim  # noqa: F401
    except ImportError:
        return False
    return True


def train_gensim(corpus: Corpus, config: SGNSConfig) -> tuple[np.ndarray, np.ndarray, float]:
    """(input vectors, output vectors, seconds) with row t = token t of ``corpus``.

    Tokens gensim never saw (none, with ``min_count=1`` on a thresholded corpus) stay zero.
    """
    try:
        from gensim.models import Word2Vec
    except ImportError as exc:
        raise GensimMissingError(
            "gensim is not installed: pip install 'interaction-candidates[bench]'"
        ) from exc
    sentences = [
        [str(t) for t in corpus.tokens[a:b]]
        for a, b in zip(corpus.offsets[:-1], corpus.offsets[1:], strict=True)
    ]
    started = time.perf_counter()
    model = Word2Vec(
        sentences=sentences,
        sg=1,
        vector_size=config.dim,
        window=config.window,
        negative=config.negatives,
        ns_exponent=config.ns_exponent,
        sample=config.sample,
        alpha=config.alpha,
        min_alpha=config.min_alpha,
        epochs=epochs_for(corpus, config),  # as train_sgns resolves "auto" on this corpus
        min_count=1,
        seed=config.seed,
        workers=resolve_threads(config.threads),
    )
    seconds = time.perf_counter() - started
    n_tokens = len(corpus.counts)
    u = np.zeros((n_tokens, config.dim), dtype=np.float32)
    v = np.zeros((n_tokens, config.dim), dtype=np.float32)
    rows = np.array([int(word) for word in model.wv.index_to_key], dtype=np.int64)
    u[rows] = model.wv.vectors
    v[rows] = model.syn1neg
    return u, v, seconds
