"""Skip-gram with negative sampling in numba: word2vec's algorithm plus the paper's negatives.

One idea at ~700 lines: the SGNS kernel and the host code that feeds it. The kernel takes three
typed tuples — ``Knobs`` (scalars), ``Tables`` (read-only arrays), ``Vectors`` (what it
writes) — and ``_train_shard`` reads top to bottom as its steps, each a small inlined function
(``_mark_session``, ``_subsample``, ``_custom_negatives``, ``_step``); numba inlines them only
from the same module, hence one file (the custom negatives' lookups are ``trainer/negatives.py``).

The loss, per session S (subsampled as in word2vec) and per position t with token p_t, for each
context position c in word2vec's sampled shrinking window around t:

    log σ(u_{p_c} · v_{p_t})                                  the positive
  + Σ_{n ~ unigram^0.75, k draws}  log σ(−u_{p_c} · v_n)        random negatives
  + w_h · Σ_{n ∈ hierarchy(p_t, S)} log σ(−u_{p_c} · v_n)      custom negatives of p_t
  + w_t · Σ_{n ∈ taxonomy(p_t, S)}  log σ(−u_{p_c} · v_n)

each such term multiplied by the journey weight ω(S)·w(p_c)·w(p_t) (``journeys.weights``,
``journeys.purchase_session_weight``: ω(S) applies when S holds a purchase; all 1 by default).
With ``journeys.purchase_context`` every purchase pair g of S is also a context of every other
position t, window or not — ω(S)·w(p_t)·w(g) · [log σ(u_{p_t} · v_g) + Σ_{n, k draws}
log σ(−u_{p_t} · v_n)] — the blog's "linear multi-touch attribution" (Airbnb's booked listing
as global context).

where u is the input and v the output vector. So the custom negatives of a pair p are scored
against the **input vector of every context token** that predicts p, in **every positive
update whose output is p**, next to the random negatives: "the user did (ℓ, view) here, not
(ℓ, purchase)". Hierarchy negatives are fixed by S; the taxonomy negatives of a position are
drawn afresh each time it is visited (each epoch) and shared by the contexts of its window.
Both use the whole session S (before subsampling) to decide what is "in S".

**Composed pair vectors** (``sgns.pair_vectors``). With "item", a pair's input and output
vectors are each the sum of a vector of its item and one of the pair, u_{(ℓ,x)} = a_ℓ + b_{(ℓ,x)}
and v_{(ℓ,x)} = a'_ℓ + b'_{(ℓ,x)}, trained jointly as fastText composes a word from its subwords:
every (ℓ, ·) token's updates move a_ℓ, so a rare (ℓ, purchase) starts from what ℓ's views taught,
and a hierarchy negative (ℓ, purchase) against a positive (ℓ, view) moves the pair parts apart
rather than the item away. "item_category" adds the item's category vector to both sums. A step
is split evenly over a sum's parts, so the sum moves as an independent vector would. The pair
parts start at zero (the shared parts as word2vec starts its vectors); the published vectors
are the sums. Entity tokens stay independent.

Parallelism is hogwild: each chunk of the corpus is split into one shard of sessions per
thread, and threads update the shared vectors without locks. The learning rate decays linearly
over all epochs' tokens; within a chunk each shard decays from the chunk's start rate to its end
rate. With one thread the run is a pure function of the seed: bit-for-bit reproducible.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

from contracts.interactions import N_INTERACTIONS, Interaction
from trainer.config import JourneysConfig, NegativesConfig, SGNSConfig
from trainer.negatives import (
    NegativeTables,
    hierarchy_negatives,
    only_viewed,
    taxonomy_negatives,
)
from trainer.progress import bar
from trainer.vocab import Corpus

MAX_EXP = 6.0
EXP_TABLE_SIZE = 1000
CHUNK_TOKENS_PER_THREAD = 200_000  # one progress update per chunk; small enough to be live
MAX_PURCHASE_CONTEXTS = 8  # distinct purchases of a session used as global contexts


@dataclass(frozen=True)
class SGNSResult:
    """Trained vectors and what it took to train them."""

    input: np.ndarray  # float32 (n_tokens, dim): u
    output: np.ndarray  # float32 (n_tokens, dim): v
    tokens: int  # corpus tokens passed over, all epochs, before subsampling
    seconds: float  # wall time of the SGNS loop alone
    compile_seconds: float  # JIT compile (or cache load), excluded from ``seconds``
    threads: int
    epochs: int
    positives: int  # (context, target) updates made
    hierarchy_negatives: int
    taxonomy_negatives: int
    purchase_contexts: int  # (token, purchase) positives outside the window (journeys)
    implicit_negatives: int  # skipped impressions used as negatives (corpus.implicit)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def stats(self) -> dict[str, float | int]:
        """The manifest's ``training`` entry."""
        return {
            "tokens": self.tokens,
            "seconds": round(self.seconds, 3),
            "threads": self.threads,
            "epochs": self.epochs,
            "compile_seconds": round(self.compile_seconds, 3),
            "tokens_per_second": round(self.tokens_per_second, 1),
        }


def train_sgns(
    corpus: Corpus,
    config: SGNSConfig,
    tables: NegativeTables | None = None,
    negatives: NegativesConfig | None = None,
    progress: bool = True,
    desc: str = "sgns",
    journeys: JourneysConfig | None = None,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> SGNSResult:
    """Train input and output vectors for every token id of ``corpus``.

    ``tables``/``negatives`` switch on the paper's custom negatives; without them this is
    plain word2vec skip-gram (the no-interaction model). ``journeys`` (with ``tables``, whose
    token interactions it reads) switches on the blog's weights and purchase context, and
    ``corpus.implicit`` (with ``negatives.implicit``) the blog's implicit negatives.
    ``start`` gives the starting (input, output) vectors instead of word2vec's.
    """
    threads = resolve_threads(config.threads)
    epochs = epochs_for(corpus, config)
    n_tokens = len(corpus.counts)
    v = np.zeros((n_tokens, config.dim), dtype=np.float32)
    if tables is None or negatives is None:
        tables, negatives = NegativeTables.empty(), NegativesConfig(hierarchy=False, taxonomy=False)
    share, u_item = _composition(n_tokens, tables, config)
    v_shared = np.zeros_like(u_item)  # word2vec's output vectors start at zero
    u = initial_input(n_tokens, config)
    if start is not None:
        u, v = (np.array(start[0], np.float32), np.array(start[1], np.float32))
    composed = share[:, 0] >= 0
    u[composed] = 0.0  # composed: the shared parts start random, the pair's own part at zero
    journeys = journeys if journeys is not None and len(tables.token_interaction) else None
    implicit = corpus.implicit if negatives.implicit and corpus.implicit is not None else None
    implicit_offsets, implicit_tokens, implicit_longest = _implicit_arrays(implicit)
    knobs = Knobs.of(config, negatives, journeys or JourneysConfig(), implicit_longest)
    token_weight, token_purchase = _journey_arrays(n_tokens, tables, journeys)
    kernel_tables = _tables(
        tables,
        _keep_probability(corpus.counts, config.sample),
        _noise_table(corpus.counts, config.ns_exponent),
        token_weight,
        token_purchase,
        (implicit_offsets, implicit_tokens),
        share,
    )
    vectors = Vectors(u, v, u_item, v_shared)
    compile_seconds = _warm_up(config.dim, knobs, threads)
    numba.set_num_threads(threads)
    marks = np.zeros((threads, n_tokens), dtype=np.int64)
    stamps = np.zeros(threads, dtype=np.int64)
    stats = np.zeros((threads, 5), dtype=np.int64)
    chunks = _chunk_bounds(corpus.offsets, CHUNK_TOKENS_PER_THREAD * threads)
    n_corpus = int(corpus.offsets[-1])
    total = n_corpus * epochs
    done = 0
    shown = bar(total=total, desc=desc, unit="tok", unit_scale=True, enabled=progress)
    started = time.perf_counter()
    for epoch in range(epochs):
        for c in range(len(chunks) - 1):
            lo, hi = chunks[c], chunks[c + 1]
            chunk_tokens = int(corpus.offsets[hi] - corpus.offsets[lo])
            alpha_lo = _alpha(config, done / total)
            alpha_hi = _alpha(config, (done + chunk_tokens) / total)
            seeds = np.random.default_rng([config.seed, epoch, c]).integers(
                1, 2**62, size=threads, dtype=np.int64
            )
            _train_chunk(
                corpus.tokens,
                corpus.offsets,
                _shard_bounds(corpus.offsets, lo, hi, threads),
                alpha_lo,
                alpha_hi,
                seeds.astype(np.uint64),
                marks,
                stamps,
                stats,
                vectors,
                kernel_tables,
                knobs,
            )
            done += chunk_tokens
            shown.update(chunk_tokens)
    seconds = time.perf_counter() - started
    shown.close()
    totals = stats.sum(axis=0)
    for part in range(share.shape[1]):
        has = share[:, part] >= 0
        u[has] += u_item[share[has, part]]
        v[has] += v_shared[share[has, part]]
    return SGNSResult(
        input=u,
        output=v,
        tokens=total,
        seconds=seconds,
        compile_seconds=compile_seconds,
        threads=threads,
        epochs=epochs,
        positives=int(totals[0]),
        hierarchy_negatives=int(totals[1]),
        taxonomy_negatives=int(totals[2]),
        purchase_contexts=int(totals[3]),
        implicit_negatives=int(totals[4]),
    )


def epochs_for(corpus: Corpus, config: SGNSConfig) -> int:
    """``config.epochs``, or for "auto" ``auto_passes`` over the mean token's occurrences:
    a log where each pair occurs once needs many passes, one where pairs recur fewer."""
    if config.epochs != "auto":
        return int(config.epochs)
    occurring = corpus.counts[corpus.counts > 0]
    mean = float(occurring.mean()) if len(occurring) else 1.0
    return int(np.clip(round(config.auto_passes / mean), 1, config.auto_max_epochs))


def initial_input(n_tokens: int, config: SGNSConfig) -> np.ndarray:
    """word2vec's starting input vectors: uniform in ±0.5/d, drawn from ``config.seed``."""
    init = np.random.default_rng(config.seed)
    return ((init.random((n_tokens, config.dim), dtype=np.float32) - 0.5) / config.dim).astype(
        np.float32
    )


def _composition(
    n_tokens: int, tables: NegativeTables, config: SGNSConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Per token the rows of the shared vectors its input adds to its own (int32 (n, 2): its
    item's, its category's; -1: none), and the shared vectors: items, then categories (a
    (1, d) placeholder when nothing is composed)."""
    share = np.full((n_tokens, 2), -1, np.int32)
    if config.pair_vectors not in ("item", "item_category") or not len(tables.token_item):
        return share, np.zeros((1, config.dim), np.float32)
    pairs = tables.token_interaction < N_INTERACTIONS  # entity tokens have no item
    n_items = len(tables.item_token)
    share[pairs, 0] = tables.token_item[pairs]
    n_categories = 0
    if config.pair_vectors == "item_category":
        category = tables.token_category
        has = pairs & (category >= 0)
        share[has, 1] = n_items + category[has]
        n_categories = int(category.max(initial=-1)) + 1
    shared = initial_input(
        n_items + n_categories, config.model_copy(update={"seed": config.seed + 7919})
    )
    return share, shared


def resolve_threads(threads: int) -> int:
    """``threads``, or every core numba may use when it is 0."""
    return threads or int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]


class Knobs(NamedTuple):
    """The kernel's scalars, one typed tuple (numba compiles one signature for it)."""

    window: int
    negatives: int
    shared: bool  # random negatives drawn once per target and shared by its window
    hierarchy: bool
    hierarchy_weight: float
    taxonomy_count: int
    taxonomy_weight: float
    purchase_context: bool
    purchase_session_weight: float
    weighted: bool  # some interaction weight is not 1: look weights up per pair
    implicit_weight: float
    implicit_longest: int  # the most implicit negatives of one position (0: none)

    @staticmethod
    def of(
        config: SGNSConfig,
        negatives: NegativesConfig,
        journeys: JourneysConfig,
        implicit_longest: int = 0,
    ) -> Knobs:
        return Knobs(
            window=config.window,
            negatives=config.negatives,
            shared=bool(config.shared_negatives),
            hierarchy=bool(negatives.hierarchy),
            hierarchy_weight=float(negatives.hierarchy_weight),
            taxonomy_count=negatives.taxonomy_count if negatives.taxonomy else 0,
            taxonomy_weight=float(negatives.taxonomy_weight),
            purchase_context=bool(journeys.purchase_context),
            purchase_session_weight=float(journeys.purchase_session_weight),
            weighted=any(w != 1.0 for w in journeys.weights.values()),
            implicit_weight=float(negatives.implicit_weight),
            implicit_longest=implicit_longest,
        )


class Tables(NamedTuple):
    """The kernel's read-only arrays, the same for every chunk of a run."""

    exp_table: np.ndarray  # float32: σ on a grid of [-MAX_EXP, MAX_EXP]
    keep: np.ndarray  # float32 per token: subsampling's keep probability
    noise: np.ndarray  # int32: unigram^0.75 draws
    token_item: np.ndarray  # the custom negatives' lookups (trainer/negatives.py) …
    token_interaction: np.ndarray
    item_token: np.ndarray
    token_category: np.ndarray
    category_offsets: np.ndarray
    category_view_tokens: np.ndarray  # … to here
    token_weight: np.ndarray  # float32 per token: its interaction's journey weight
    token_purchase: np.ndarray  # bool per token: a purchase pair
    implicit_offsets: np.ndarray  # int64 CSR over corpus positions: skipped impressions …
    implicit_tokens: np.ndarray  # … their tokens
    share: np.ndarray  # int32 (n_tokens, parts): rows of the shared parts, -1 (independent)


class Vectors(NamedTuple):
    """What training writes, shared by the threads (hogwild)."""

    u: np.ndarray  # float32 input vectors (a composed token's own part)
    v: np.ndarray  # float32 output vectors
    u_item: np.ndarray  # float32 shared input parts (items, categories) of composed tokens
    v_shared: np.ndarray  # float32 shared output parts


def _alpha(config: SGNSConfig, progress: float) -> float:
    return max(config.min_alpha, config.alpha - (config.alpha - config.min_alpha) * progress)


def _keep_probability(counts: np.ndarray, sample: float) -> np.ndarray:
    """word2vec's subsampling: keep a token with probability (√(f/s) + 1)·s/f, f its frequency."""
    keep = np.ones(len(counts), dtype=np.float32)
    if sample <= 0 or counts.sum() == 0:
        return keep
    threshold = sample * counts.sum()
    seen = counts > 0
    f = counts[seen].astype(np.float64)
    keep[seen] = np.minimum(1.0, (np.sqrt(f / threshold) + 1.0) * threshold / f)
    return keep


def _noise_table(counts: np.ndarray, exponent: float) -> np.ndarray:
    """A table of token ids in proportion to count^exponent; uniform draws from it are negatives."""
    weights = counts.astype(np.float64) ** exponent
    if weights.sum() == 0:
        return np.zeros(1, dtype=np.int32)
    size = int(min(10_000_000, max(1_000_000, 100 * len(counts))))
    cumulative = np.cumsum(weights / weights.sum())
    slots = (np.arange(size, dtype=np.float64) + 0.5) / size
    table = np.searchsorted(cumulative, slots, side="right")
    return np.minimum(table, len(counts) - 1).astype(np.int32)


def _exp_table() -> np.ndarray:
    x = (np.arange(EXP_TABLE_SIZE, dtype=np.float64) / EXP_TABLE_SIZE * 2 - 1) * MAX_EXP
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def _chunk_bounds(offsets: np.ndarray, chunk_tokens: int) -> np.ndarray:
    """Session indices that cut the corpus into chunks of about ``chunk_tokens`` tokens."""
    n_sessions = len(offsets) - 1
    targets = np.arange(chunk_tokens, offsets[-1], chunk_tokens)
    cuts = np.searchsorted(offsets, targets)
    return np.unique(np.r_[0, cuts, n_sessions]).astype(np.int64)


def _shard_bounds(offsets: np.ndarray, lo: int, hi: int, shards: int) -> np.ndarray:
    """Split sessions lo..hi into ``shards`` runs of about equal token counts."""
    targets = np.linspace(offsets[lo], offsets[hi], shards + 1)[1:-1]
    cuts = np.clip(np.searchsorted(offsets, targets), lo, hi)
    return np.r_[lo, cuts, hi].astype(np.int64)


def _journey_arrays(
    n_tokens: int, tables: NegativeTables, journeys: JourneysConfig | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per token: its interaction's weight (float32) and whether it is a purchase (bool)."""
    if journeys is None:
        return np.ones(n_tokens, np.float32), np.zeros(n_tokens, np.bool_)
    by_interaction = np.array([journeys.weights[i.label] for i in Interaction] + [1.0], np.float32)
    interaction = tables.token_interaction  # entity tokens: the last entry, weight 1
    return by_interaction[interaction], interaction == int(Interaction.PURCHASE)


def _implicit_arrays(
    implicit: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The kernel's implicit-negative arguments: CSR offsets, tokens, the longest row."""
    if implicit is None:
        return np.zeros(1, np.int64), np.zeros(1, np.int32), 0
    offsets, tokens = implicit
    return offsets, tokens, int(np.diff(offsets).max(initial=0))


def _tables(
    tables: NegativeTables,
    keep: np.ndarray,
    noise: np.ndarray,
    token_weight: np.ndarray,
    token_purchase: np.ndarray,
    implicit: tuple[np.ndarray, np.ndarray],
    share: np.ndarray,
) -> Tables:
    return Tables(
        exp_table=_exp_table(),
        keep=keep,
        noise=noise,
        token_item=tables.token_item,
        token_interaction=tables.token_interaction,
        item_token=tables.item_token,
        token_category=tables.token_category,
        category_offsets=tables.category_offsets,
        category_view_tokens=tables.category_view_tokens,
        token_weight=token_weight,
        token_purchase=token_purchase,
        implicit_offsets=implicit[0],
        implicit_tokens=implicit[1],
        share=share,
    )


def _warm_up(dim: int, knobs: Knobs, threads: int) -> float:
    """Compile (or load from cache) the kernel on a toy corpus; return the seconds it took.

    The toy arguments have the real ones' types, so the real run reuses this compilation.
    """
    started = time.perf_counter()
    numba.set_num_threads(1)
    implicit_offsets, implicit_tokens, _ = _implicit_arrays(None)
    tables = _tables(
        NegativeTables.toy(4),
        np.ones(4, dtype=np.float32),
        np.zeros(8, dtype=np.int32),
        np.ones(4, np.float32),
        np.zeros(4, np.bool_),
        (implicit_offsets, implicit_tokens),
        np.full((4, 2), -1, np.int32),
    )
    vectors = Vectors(
        np.zeros((4, dim), np.float32),
        np.zeros((4, dim), np.float32),
        np.zeros((1, dim), np.float32),
        np.zeros((1, dim), np.float32),
    )
    _train_chunk(
        np.array([0, 1, 2, 3], dtype=np.int32),
        np.array([0, 4], dtype=np.int64),
        np.array([0, 1], dtype=np.int64),
        0.025,
        0.025,
        np.ones(1, dtype=np.uint64),
        np.zeros((1, 4), dtype=np.int64),
        np.zeros(1, dtype=np.int64),
        np.zeros((1, 5), dtype=np.int64),
        vectors,
        tables,
        knobs._replace(implicit_longest=0),  # the toy has no impressions
    )
    numba.set_num_threads(threads)
    return time.perf_counter() - started


@njit(parallel=True, cache=True)
def _train_chunk(
    tokens, offsets, bounds, alpha_lo, alpha_hi, seeds, marks, stamps, stats, vectors, tables,
    knobs,
):  # fmt: skip
    """One chunk of sessions, one shard of it per thread."""
    for shard in prange(len(bounds) - 1):
        stamps[shard] = _train_shard(
            tokens, offsets, bounds[shard], bounds[shard + 1], alpha_lo, alpha_hi, seeds[shard],
            marks[shard], stamps[shard], stats[shard], vectors, tables, knobs,
        )  # fmt: skip


POSITIVE, NEGATIVE = np.float32(1.0), np.float32(0.0)  # an update's label


@njit(cache=True, fastmath=True, nogil=True)
def _train_shard(
    tokens, offsets, s_lo, s_hi, alpha_lo, alpha_hi, rng, mark, stamp, stats, vectors, tables,
    knobs,
):  # fmt: skip
    """Train sessions s_lo..s_hi; return the last session stamp used in ``mark``.

    Per session: mark what it holds (and its purchases), subsample it, then for every kept
    position: its custom negatives, its random ones, its window's updates, and the session's
    purchases as global contexts. ``rng`` is consumed in that order, which fixes the results.
    """
    dim = vectors.u.shape[1]
    window, n_neg, shared, weighted = knobs.window, knobs.negatives, knobs.shared, knobs.weighted
    longest = 0
    for s in range(s_lo, s_hi):
        longest = max(longest, offsets[s + 1] - offsets[s])
    kept = np.empty(longest, dtype=np.int32)
    kept_at = np.empty(longest, dtype=np.int64)  # corpus position: its implicit negatives
    n_custom = N_INTERACTIONS + knobs.taxonomy_count + knobs.implicit_longest
    custom = np.empty(n_custom, dtype=np.int32)
    weight = np.empty(n_custom, dtype=np.float64)  # each custom negative's weight
    drawn = np.empty(max(1, n_neg), dtype=np.int32)
    bought = np.empty(MAX_PURCHASE_CONTEXTS, dtype=np.int32)
    neu1e = np.zeros(dim, dtype=np.float32)  # the context's accumulated step
    buffer = np.zeros(dim, dtype=np.float32)  # a composed input vector
    tbuf = np.zeros(dim, dtype=np.float32)  # a composed output vector
    # unpacked once: an array taken from a tuple in the hot loop costs a reference count each time
    u, v, u_item, v_shared = vectors
    share, exp_table, noise = tables.share, tables.exp_table, tables.noise
    token_weight, token_purchase, keep = tables.token_weight, tables.token_purchase, tables.keep
    total = max(1, offsets[s_hi] - offsets[s_lo])
    done = 0
    for s in range(s_lo, s_hi):
        a, b = offsets[s], offsets[s + 1]
        alpha = np.float32(alpha_lo + (alpha_hi - alpha_lo) * done / total)
        done += b - a
        stamp += 1
        session_w, n_bought = _mark_session(
            tokens, a, b, mark, stamp, token_purchase, knobs, bought
        )
        n_kept, rng = _subsample(tokens, a, b, keep, rng, kept, kept_at)
        for i in range(n_kept):
            target = kept[i]
            counts, rng = _custom_negatives(
                target, kept_at[i], mark, stamp, tables, knobs, rng, custom, weight
            )
            n_r = 0
            if shared:
                n_r, rng = _draw_negatives(noise, n_neg, target, rng, drawn)
            rng = rng * np.uint64(25214903917) + np.uint64(11)
            shrink = np.int64(rng % np.uint64(window))
            lo = max(0, i - window + shrink)
            hi = min(n_kept, i + window - shrink + 1)
            for c in range(lo, hi):
                if c == i:
                    continue
                lr = alpha * session_w
                if weighted:
                    lr *= token_weight[kept[c]] * token_weight[target]
                if lr == 0.0:
                    continue
                if not shared:
                    n_r, rng = _draw_negatives(noise, n_neg, target, rng, drawn)
                context = kept[c]
                _step(
                    context, target, lr, drawn, n_r, custom, weight, counts,
                    u, v, u_item, v_shared, share, exp_table, neu1e, buffer, tbuf,
                )  # fmt: skip
                stats[0] += 1
                stats[1] += counts[0]
                stats[2] += counts[1]
                stats[4] += counts[2]
            for q in range(n_bought):  # the session's purchases: contexts of every position
                goal = bought[q]
                lr = alpha * session_w
                if weighted:
                    lr *= token_weight[target] * token_weight[goal]
                if goal == target or lr == 0.0:
                    continue
                n_g, rng = _draw_negatives(noise, n_neg, goal, rng, drawn)
                none = (0, 0, 0)  # no custom negatives for a global context
                _step(
                    target, goal, lr, drawn, n_g, custom, weight, none,
                    u, v, u_item, v_shared, share, exp_table, neu1e, buffer, tbuf,
                )  # fmt: skip
                stats[3] += 1
    return stamp


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _mark_session(tokens, a, b, mark, stamp, token_purchase, knobs, bought):
    """Mark the session's tokens with ``stamp`` ("in S", before subsampling); return its
    journey weight and how many distinct purchases it put in ``bought`` (global contexts)."""
    session_w = np.float32(1.0)
    n_bought = 0
    for p in range(a, b):
        t = tokens[p]
        if token_purchase[t]:
            session_w = np.float32(knobs.purchase_session_weight)
            if knobs.purchase_context and mark[t] != stamp and n_bought < MAX_PURCHASE_CONTEXTS:
                bought[n_bought] = t
                n_bought += 1
        mark[t] = stamp
    return session_w, n_bought


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _subsample(tokens, a, b, keep, rng, kept, kept_at):
    """word2vec's frequent-token subsampling of one session into ``kept`` (positions in
    ``kept_at``); return how many were kept and the rng."""
    n_kept = 0
    for p in range(a, b):
        t = tokens[p]
        if keep[t] < 1.0:
            rng = rng * np.uint64(25214903917) + np.uint64(11)
            if keep[t] < (rng & np.uint64(0xFFFF)) / 65536.0:
                continue
        kept[n_kept] = t
        kept_at[n_kept] = p
        n_kept += 1
    return n_kept, rng


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _custom_negatives(target, at, mark, stamp, tables, knobs, rng, custom, weight):
    """The paper's and the blog's negatives of ``target`` (at corpus position ``at``) into
    ``custom``, each with its weight: hierarchy, then taxonomy, then skipped impressions the
    session did not come back to. Return their three counts and the rng."""
    n_h = 0
    n_t = 0
    if knobs.hierarchy:
        n_h = hierarchy_negatives(
            target, tables.token_item, tables.token_interaction, tables.item_token, mark, stamp,
            custom,
        )  # fmt: skip
    if knobs.taxonomy_count > 0 and only_viewed(
        target, tables.token_item, tables.token_interaction, tables.item_token, mark, stamp
    ):
        n_t, rng = taxonomy_negatives(
            target, knobs.taxonomy_count, tables.token_category, tables.category_offsets,
            tables.category_view_tokens, rng, custom, n_h,
        )  # fmt: skip
    n_i = 0
    if knobs.implicit_longest > 0:
        for q in range(tables.implicit_offsets[at], tables.implicit_offsets[at + 1]):
            if mark[tables.implicit_tokens[q]] != stamp:
                custom[n_h + n_t + n_i] = tables.implicit_tokens[q]
                n_i += 1
    for q in range(n_h):
        weight[q] = knobs.hierarchy_weight
    for q in range(n_h, n_h + n_t):
        weight[q] = knobs.taxonomy_weight
    for q in range(n_h + n_t, n_h + n_t + n_i):
        weight[q] = knobs.implicit_weight
    return (n_h, n_t, n_i), rng


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _step(
    context, target, lr, drawn, n_random, custom, weight, counts,
    u, v, u_item, v_shared, share, exp_table, neu1e, buffer, tbuf,
):  # fmt: skip
    """One context's updates: the positive (context, target), ``n_random`` random negatives,
    then the custom ones (their learning rate scaled by their weight); the context's input
    vector moves once, by the sum of its steps."""
    neu1e[:] = 0.0
    h = _input_vector(u, u_item, share, context, buffer)
    _update(h, v, v_shared, share, target, POSITIVE, lr, neu1e, exp_table, tbuf)
    for q in range(n_random):
        _update(h, v, v_shared, share, drawn[q], NEGATIVE, lr, neu1e, exp_table, tbuf)
    for q in range(counts[0] + counts[1] + counts[2]):
        _update(h, v, v_shared, share, custom[q], NEGATIVE, lr * weight[q], neu1e, exp_table, tbuf)
    _add(u, u_item, share, context, neu1e, np.float32(1.0))


@njit(cache=True, nogil=True, inline="always")
def _draw_negatives(noise, n_neg, target, rng, drawn):
    """Write up to ``n_neg`` unigram^0.75 draws other than ``target``; return (count, rng)."""
    n = 0
    for _ in range(n_neg):
        rng = rng * np.uint64(25214903917) + np.uint64(11)
        negative = noise[np.int64((rng >> np.uint64(16)) % np.uint64(len(noise)))]
        if negative != target:
            drawn[n] = negative
            n += 1
    return n, rng


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _input_vector(u, u_item, share, token, buffer):
    """``token``'s input vector: its row of u, or (composed) the sum of its parts, in buffer."""
    if share[token, 0] < 0:
        return u[token]
    for k in range(u.shape[1]):
        buffer[k] = u[token, k]
    for part in range(share.shape[1]):
        row = share[token, part]
        if row >= 0:
            for k in range(u.shape[1]):
                buffer[k] += u_item[row, k]
    return buffer


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _add(m, shared, share, token, step, g):
    """m[token] += g·step, or (composed) g·step split evenly over the token's parts, so their
    sum moves as an independent vector would."""
    parts = 1
    for part in range(share.shape[1]):
        if share[token, part] >= 0:
            parts += 1
    scale = np.float32(g / parts)
    for k in range(m.shape[1]):
        m[token, k] += scale * step[k]
    for part in range(share.shape[1]):
        row = share[token, part]
        if row >= 0:
            for k in range(m.shape[1]):
                shared[row, k] += scale * step[k]


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _update(h, v, v_shared, share, target, label, lr, neu1e, exp_table, tbuf):
    """One logistic step on (h, target's output vector), h an input vector: the output moves
    now, h's step accumulates in neu1e."""
    tv = _input_vector(v, v_shared, share, target, tbuf)
    f = np.float32(0.0)
    for k in range(h.shape[0]):
        f += h[k] * tv[k]
    if f > MAX_EXP:
        g = (label - np.float32(1.0)) * lr
    elif f < -MAX_EXP:
        g = label * lr
    else:
        slot = int((f + MAX_EXP) * (EXP_TABLE_SIZE / MAX_EXP / 2))
        g = (label - exp_table[min(slot, EXP_TABLE_SIZE - 1)]) * lr
    g = np.float32(g)
    for k in range(h.shape[0]):
        neu1e[k] += g * tv[k]
    _add(v, v_shared, share, target, h, g)
