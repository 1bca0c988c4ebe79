"""What a neighbour table costs per million rows, filled here or spread over processes.

    python bench/table_build.py --version ARTIFACTS/versions/<id> [--processes 1,2] \
        [--range-rows 131072] [--threads 2] [--out bench/results/table_build.json]

For a published version (trained, or from bench/synthetic_model.py), the tables of its
manifest are built again (trainer/neighbors.py ``build_tables_for``) into a copy of it (hard
links, the ``neighbors/`` folder left out) once per ``--processes`` value, with the version's
own ``index.tables`` and ``table_k``; each build is checked to give the published tables byte
for byte. Prints wall seconds, µs per row (= seconds per million rows), and the peak RSS of this
process and of the largest range process, and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from contracts import artifacts
from contracts.artifacts import load_manifest
from trainer.config import TrainConfig
from trainer.neighbors import build_tables_for

ROOT = Path(__file__).resolve().parent.parent


def copy_without_tables(version: Path, into: Path) -> Path:
    """``version`` hard-linked into ``into``, without its neighbour tables."""
    shutil.copytree(
        version, into, copy_function=os.link, ignore=shutil.ignore_patterns("neighbors")
    )
    return into


def build(version: Path, work: Path, processes: int, range_rows: int, threads: int) -> dict:
    manifest = load_manifest(version)
    folder = copy_without_tables(version, work / f"p{processes}")
    tokens = np.load(folder / artifacts.TOKENS, mmap_mode="r")
    has_items = (folder / artifacts.ITEMS_IN).exists()
    n_items = len(np.load(folder / artifacts.ITEMS_IN, mmap_mode="r")) if has_items else 0
    vocab = SimpleNamespace(token_interaction=np.asarray(tokens[:, 1]), n_items=n_items)
    cold = folder / artifacts.COLD_VECTORS
    n_cold = len(np.load(cold, mmap_mode="r")) if cold.exists() else 0
    tables = [f"{t.seed}>{t.target}" for t in manifest.neighbor_tables]
    k = max((t.k for t in manifest.neighbor_tables), default=128)
    config = TrainConfig().with_overrides({"index": {
        "tables": tables, "table_k": k, "table_processes": processes,
        "table_range_rows": range_rows, "similarity": manifest.similarity}})  # fmt: skip
    started = time.perf_counter()
    infos = build_tables_for(folder, manifest.indexes, vocab, config, threads, False,
                             has_items, n_cold)  # type: ignore[arg-type]  # fmt: skip
    seconds = time.perf_counter() - started
    for info in infos:
        for name in (info.tokens, info.items, info.scores):
            if not np.array_equal(np.load(version / name), np.load(folder / name)):
                raise SystemExit(f"{name} differs from the published table")
    rows = sum(info.rows for info in infos)
    shutil.rmtree(folder)
    return {
        "processes": processes, "rows": rows, "seconds": round(seconds, 1),
        "us_per_row": round(1e6 * seconds / rows, 1),
        "peak_rss_mb_self": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3),
        "peak_rss_mb_children": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e3),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", type=Path, required=True)
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--range-rows", type=int, default=131_072)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/table_build.json")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(dir=args.version.parent) as work:
        for processes in (int(p) for p in args.processes.split(",")):
            run = build(args.version, Path(work), processes, args.range_rows, args.threads)
            print(json.dumps(run), flush=True)
            runs.append(run)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"version": str(args.version), "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
