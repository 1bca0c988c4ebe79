"""Training throughput: our numba SGNS against gensim's Word2Vec, same corpus, same threads.

    python bench/train_throughput.py [--users 200000 --items 250000 --categories 2000]

Builds one synthetic corpus (~5M tokens, ~300k distinct (item, interaction) pairs), then trains
one epoch of skip-gram (d=100, window 5, 5 negatives, sample 1e-3) with:
  * ours, the paper's custom negatives on, and off (plain word2vec), at 1 and 2 threads, and
    with random negatives drawn per pair instead of shared by a target's window;
  * gensim ``Word2Vec(sg=1, corpus_file=...)``, its fastest mode, at 1 and 2 threads.
Each run is a fresh subprocess so its peak RSS is its own. Prints tokens/s, the ratio to gensim
at the same thread count, the 1→2 thread scaling, and peak memory; writes a JSON copy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TRIALS = ("gensim", "ours-custom", "ours-plain", "ours-unshared")
"""ours-custom: the paper's negatives on; ours-plain: off (plain word2vec); ours-unshared:
negatives on, but random negatives drawn per (context, target) pair as word2vec does, instead
of once per target and shared by its window."""


def prepare(args: argparse.Namespace, work: Path) -> dict[str, int]:
    """Synthesise, sessionize and encode the corpus once; save it for the trial processes."""
    from trainer.config import DataConfig, SessionConfig, VocabConfig
    from trainer.events import load_events
    from trainer.negatives import build_tables
    from trainer.sessions import sessionize
    from trainer.synth import SynthConfig, generate, write_events
    from trainer.vocab import build_vocab, encode_pairs

    table = generate(
        SynthConfig(users=args.users, items=args.items, categories=args.categories, seed=11)
    )
    write_events(table, work / "events.parquet")
    log = load_events(work / "events.parquet", DataConfig(), progress=False)
    sessions = sessionize(log, SessionConfig())
    vocab = build_vocab(sessions, log, VocabConfig(min_count={"view": 1}))
    corpus = encode_pairs(sessions, vocab, log)
    tables = build_tables(vocab)
    np.savez(
        work / "corpus.npz",
        tokens=corpus.tokens,
        offsets=corpus.offsets,
        counts=corpus.counts,
        **{f"t_{k}": getattr(tables, k) for k in tables.__dataclass_fields__},
    )
    with open(work / "corpus.txt", "w") as f:
        for a, b in zip(corpus.offsets[:-1], corpus.offsets[1:], strict=True):
            f.write(" ".join(f"t{t}" for t in corpus.tokens[a:b]) + "\n")
    return {"events": len(log), "tokens": int(corpus.offsets[-1]), "pairs": vocab.n_tokens}


def run_ours(work: Path, threads: int, custom: bool, shared: bool = True) -> dict[str, float]:
    from trainer.config import NegativesConfig, SGNSConfig
    from trainer.negatives import NegativeTables
    from trainer.sgns import train_sgns
    from trainer.vocab import Corpus

    data = np.load(work / "corpus.npz")
    corpus = Corpus(data["tokens"], data["offsets"], data["counts"])
    tables = NegativeTables(**{k[2:]: data[k] for k in data.files if k.startswith("t_")})
    negatives = NegativesConfig(hierarchy=custom, taxonomy=custom)
    config = SGNSConfig(epochs=1, threads=threads, shared_negatives=shared)
    result = train_sgns(corpus, config, tables, negatives, progress=False)
    return {
        "tokens": result.tokens,
        "seconds": result.seconds,
        "tokens_per_second": result.tokens_per_second,
        "custom_negatives_per_positive": (result.hierarchy_negatives + result.taxonomy_negatives)
        / max(1, result.positives),
    }


def run_gensim(work: Path, threads: int) -> dict[str, float]:
    from gensim.models import Word2Vec

    model = Word2Vec(
        sg=1, vector_size=100, window=5, negative=5, sample=1e-3, min_count=1, workers=threads,
        epochs=1, seed=1,
    )  # fmt: skip
    model.build_vocab(corpus_file=str(work / "corpus.txt"))
    words = model.corpus_total_words
    started = time.perf_counter()
    model.train(corpus_file=str(work / "corpus.txt"), total_words=words, epochs=1)
    seconds = time.perf_counter() - started
    return {"tokens": words, "seconds": seconds, "tokens_per_second": words / seconds}


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it is not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def trial(work: Path, name: str, threads: int) -> dict[str, float]:
    """Run one trial in a fresh process, which reports its own peak RSS."""
    out = subprocess.run(
        [sys.executable, __file__, "--trial", name, "--threads", str(threads), "--work", str(work)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=120_000)
    parser.add_argument("--categories", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("bench/results/train_throughput.json"))
    parser.add_argument("--trial", choices=TRIALS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.trial:
        if args.trial == "gensim":
            result = run_gensim(args.work, args.threads)
        else:
            result = run_ours(args.work, args.threads, "plain" not in args.trial,
                              shared="unshared" not in args.trial)  # fmt: skip
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        corpus = prepare(args, work)
        print(f"corpus: {corpus} (prepared in {time.perf_counter() - started:.0f}s)")
        results: dict[str, dict[int, dict[str, float]]] = {}
        for name in TRIALS:
            for threads in (1, 2):
                results.setdefault(name, {})[threads] = r = trial(work, name, threads)
                print(f"{name:13s} threads={threads}: {r['tokens_per_second']:>11,.0f} tok/s "
                      f"({r['seconds']:.1f}s, peak RSS {r['peak_rss_mb']:,.0f} MB)")  # fmt: skip
    print("\nratio to gensim (same threads) and 1→2 thread scaling:")
    for name in TRIALS:
        by = results[name]
        ratios = "  ".join(
            f"{t}T {by[t]['tokens_per_second'] / results['gensim'][t]['tokens_per_second']:.2f}x"
            for t in (1, 2)
        )
        scaling = by[2]["tokens_per_second"] / by[1]["tokens_per_second"]
        print(f"{name:13s} {ratios}  scaling {scaling:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"corpus": corpus, "results": results}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
