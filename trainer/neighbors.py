"""Neighbour tables: the top-k target pairs of every seed pair, computed offline.

The paper computes each pair's HNSW top-k after training; serving then reads a row instead of
searching. For a table ``seed>target`` every (ℓ, seed) pair is queried once, in batches, against
the ``target`` index, and the neighbours are stored as item rows (int32) with their similarity
(float16), best first. The service memory-maps the files, so all workers share one copy in the
page cache, and keeps the live index for what a table cannot answer (other interactions, a k
deeper than the table). ``item>item`` does the same for the no-interaction item vectors: the
fallback of a seed item without the seed's pair is then a row read too; ``cold>view`` and
``cold>cart`` for the category vectors of unseen items (trainer/cold.py).

**Large vocabularies.** A table is first laid out as its three ``.npy`` files (tokens written,
items and scores blank), then filled in independent row ranges (``TableJob.fill``), each of
which reads only files of the version being staged — the target index, the seed vectors, the
tokens — and writes its own rows of the memory-mapped files. So memory is bounded by one range,
not by the table (768 B a row at k 128), and the ranges can run anywhere that sees the folder:
in this process, in ``index.table_processes`` local processes, or as the tasks of a Spark job
(docs/spark.md).
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from contracts.artifacts import (
    COLD,
    COLD_VECTORS,
    ITEM_INDEX,
    ITEMS_IN,
    PAIRS_IN,
    TOKENS,
    neighbor_table_paths,
)
from contracts.interactions import Interaction
from contracts.manifest import IndexInfo, NeighborTableInfo, Similarity, Space
from contracts.search import HnswSearch
from trainer.config import TrainConfig
from trainer.progress import bar
from trainer.vocab import Vocab

BATCH = 4096  # queries per knn_query call
SEED_VECTORS = {ITEM_INDEX: ITEMS_IN, COLD: COLD_VECTORS}
"""The file of a seed's query vectors in a version (a pair seed: PAIRS_IN)."""


@dataclass(frozen=True)
class TableJob:
    """One table of a version being staged in ``out_dir``, named by files alone: what a process
    (or a Spark task) needs to fill any range of its rows."""

    out_dir: Path
    seed: str
    target: str
    index: IndexInfo  # the target's index, as the service reads it
    rows: int
    k: int
    threads: int  # hnswlib threads of one range's queries

    @property
    def paths(self) -> tuple[str, str, str]:
        """The table's tokens, items and scores files, relative to ``out_dir``."""
        return neighbor_table_paths(self.seed, self.target)

    def layout(self, tokens: np.ndarray) -> None:
        """Write the tokens (the rows of the seed vectors, one per table row) and items and
        scores files of the right shape for ``fill`` to write into, without touching a page of
        them (the file system makes the space; every row is written whole by its range)."""
        tokens_file, items_file, scores_file = (self.out_dir / p for p in self.paths)
        tokens_file.parent.mkdir(parents=True, exist_ok=True)
        np.save(tokens_file, np.asarray(tokens, np.int64))
        shape = (self.rows, self.k)
        np.lib.format.open_memmap(items_file, "w+", np.int32, shape)  # unmapped at once
        np.lib.format.open_memmap(scores_file, "w+", np.float16, shape)

    def fill(self, start: int, stop: int) -> int:
        """Query the seed vectors of rows ``start:stop`` and write their neighbours; the number
        of rows written. Reads the version's files only, so any process may run any range."""
        out = self.out_dir
        info = self.index
        index = _index(
            out / info.file, info.space, info.dim, info.ef_search, info.count, self.threads
        )
        queries = np.load(out / SEED_VECTORS.get(self.seed, PAIRS_IN), mmap_mode="r")
        tokens = np.load(out / self.paths[0], mmap_mode="r")[start:stop]
        # the item index's labels are item rows already; a pair index's are tokens
        token_item = None if self.target == ITEM_INDEX else np.load(out / TOKENS, mmap_mode="r")
        items = np.load(out / self.paths[1], mmap_mode="r+")
        scores = np.load(out / self.paths[2], mmap_mode="r+")
        for at in range(0, len(tokens), BATCH):
            batch = np.asarray(queries[np.asarray(tokens[at : at + BATCH])])
            labels, found = index.query(batch, self.k)
            rows_items = np.full((len(batch), self.k), -1, np.int32)
            rows_scores = np.zeros((len(batch), self.k), np.float16)
            width = labels.shape[1]
            rows_items[:, :width] = labels if token_item is None else token_item[labels, 0]
            rows_scores[:, :width] = found
            items[start + at : start + at + len(batch)] = rows_items
            scores[start + at : start + at + len(batch)] = rows_scores
        items.flush()
        scores.flush()
        return len(tokens)

    def info(self, similarity: Similarity) -> NeighborTableInfo:
        tokens, items, scores = self.paths
        return NeighborTableInfo(
            seed=self.seed, target=self.target, k=self.k, rows=self.rows, similarity=similarity,
            tokens=tokens, items=items, scores=scores,
        )  # fmt: skip


@lru_cache(maxsize=1)
def _index(
    path: Path, space: Space, dim: int, ef_search: int, count: int, threads: int
) -> HnswSearch:
    """The target index of the ranges this process runs, loaded once for all of them."""
    return HnswSearch.load(path, space, dim, ef_search, count, threads)


def ranges(rows: int, size: int) -> list[tuple[int, int]]:
    """``0..rows`` cut into consecutive ranges of ``size`` rows (the last may be shorter)."""
    return [(start, min(start + size, rows)) for start in range(0, rows, size)]


def fill_table(job: TableJob, range_rows: int, processes: int, progress: bool = True) -> None:
    """Fill every row of ``job``: its ranges one after another here, or spread over
    ``processes`` processes (spawned: each loads the index; ``job.threads`` is per process)."""
    parts = ranges(job.rows, range_rows)
    desc = f"table {job.seed}>{job.target}"
    with bar(total=job.rows, desc=desc, unit="row", enabled=progress) as shown:
        if processes <= 1 or len(parts) <= 1:
            for start, stop in parts:
                shown.update(job.fill(start, stop))
            return
        context = mp.get_context("spawn")  # no fork of a process holding hnswlib/numba threads
        with ProcessPoolExecutor(min(processes, len(parts)), mp_context=context) as pool:
            for written in pool.map(job.fill, *zip(*parts, strict=True)):
                shown.update(written)


def build_tables_for(
    out_dir: Path,
    indexes: list[IndexInfo],
    vocab: Vocab,
    config: TrainConfig,
    threads: int,
    progress: bool = True,
    has_items: bool = False,
    n_cold: int = 0,
) -> list[NeighborTableInfo]:
    """Every table of ``config.index.tables`` whose seed has vectors and whose target an index.

    The seeds' vectors are read from ``out_dir`` (SEED_VECTORS): the pair vectors; with
    ``has_items`` the no-interaction item vectors, the seeds of ``item>item`` (the fallback for
    a seed item without the seed's pair); the ``n_cold`` category vectors of unseen items, the
    seeds of ``cold>…``. Each target index is read back from ``out_dir`` as the service will
    read it.
    """
    by_name = {info.name: info for info in indexes}
    processes = config.index.table_processes
    tables = []
    for entry in config.index.tables:
        seed, target = entry.split(">")
        info = by_name.get(target)
        if seed == ITEM_INDEX:
            tokens = np.arange(vocab.n_items if has_items else 0, dtype=np.int64)
        elif seed == COLD:
            tokens = np.arange(n_cold, dtype=np.int64)
        else:
            tokens = np.flatnonzero(vocab.token_interaction == Interaction.parse(seed))
            tokens = tokens.astype(np.int64)
        if info is None or not len(tokens):
            continue
        job = TableJob(
            out_dir, seed, target, info, len(tokens), min(config.index.table_k, info.count),
            max(1, threads // processes),
        )  # fmt: skip
        job.layout(tokens)
        fill_table(job, config.index.table_range_rows, processes, progress)
        tables.append(job.info(config.index.similarity))
    _index.cache_clear()
    return tables
