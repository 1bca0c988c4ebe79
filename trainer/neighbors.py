"""Neighbour tables: the top-k target pairs of every seed pair, computed offline.

The paper computes each pair's HNSW top-k after training; serving then reads a row instead of
searching. For a table ``seed>target`` every (ℓ, seed) pair is queried once, in batches, against
the ``target`` index, and the neighbours are stored as item rows (int32) with their similarity
(float16), best first. The service memory-maps the files, so all workers share one copy in the
page cache, and keeps the live index for what a table cannot answer (other interactions, a k
deeper than the table). ``item>item`` does the same for the no-interaction item vectors: the
fallback of a seed item without the seed's pair is then a row read too; ``cold>view`` and
``cold>cart`` for the category vectors of unseen items (trainer/cold.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from contracts.artifacts import COLD, ITEM_INDEX, neighbor_table_paths
from contracts.interactions import Interaction
from contracts.manifest import IndexInfo, NeighborTableInfo, Similarity
from contracts.search import HnswSearch, NeighborSearch
from trainer.config import TrainConfig
from trainer.progress import bar
from trainer.vocab import Vocab

BATCH = 4096  # queries per knn_query call


def build_table(
    seed: str,
    target: str,
    tokens: np.ndarray,
    queries: np.ndarray,
    label_rows: np.ndarray,
    index: NeighborSearch,
    k: int,
    similarity: Similarity,
    out_dir: Path,
    progress: bool = True,
) -> NeighborTableInfo:
    """Query the vector (row of ``queries``) of every seed key in ``tokens`` against ``index``.

    ``tokens`` are sorted pair tokens (item rows for ``item>item``, category vector rows for
    ``cold>…``); ``label_rows`` maps the index's labels to item rows. The table's rows follow
    ``tokens``.
    """
    k = min(k, len(index))
    items = np.full((len(tokens), k), -1, dtype=np.int32)
    scores = np.zeros((len(tokens), k), dtype=np.float16)
    desc = f"table {seed}>{target}"
    for start in bar(range(0, len(tokens), BATCH), desc=desc, unit="batch", enabled=progress):
        batch = tokens[start : start + BATCH]
        labels, found = index.query(np.asarray(queries[batch]), k)
        items[start : start + len(batch), : labels.shape[1]] = label_rows[labels]
        scores[start : start + len(batch), : labels.shape[1]] = found
    paths = neighbor_table_paths(seed, target)
    (out_dir / paths[0]).parent.mkdir(parents=True, exist_ok=True)
    arrays: tuple[np.ndarray, ...] = (tokens, items, scores)
    for path, array in zip(paths, arrays, strict=True):
        np.save(out_dir / path, array)
    return NeighborTableInfo(
        seed=seed,
        target=target,
        k=k,
        rows=len(tokens),
        similarity=similarity,
        tokens=paths[0],
        items=paths[1],
        scores=paths[2],
    )


def build_tables_for(
    out_dir: Path,
    indexes: list[IndexInfo],
    vocab: Vocab,
    queries: np.ndarray,
    config: TrainConfig,
    threads: int,
    progress: bool = True,
    item_queries: np.ndarray | None = None,
    cold_queries: np.ndarray | None = None,
) -> list[NeighborTableInfo]:
    """Every table of ``config.index.tables`` whose seed has vectors and whose target an index.

    ``queries`` are the pair vectors; ``item_queries`` the no-interaction item vectors, the
    seeds of ``item>item`` (the fallback for a seed item without the seed's pair);
    ``cold_queries`` the category vectors of unseen items, the seeds of ``cold>…``. Each
    target index is read back from ``out_dir`` as the service will read it.
    """
    by_name = {info.name: info for info in indexes}
    tables = []
    for entry in config.index.tables:
        seed, target = entry.split(">")
        info = by_name.get(target)
        if seed in (ITEM_INDEX, COLD):
            seed_queries = item_queries if seed == ITEM_INDEX else cold_queries
            if seed_queries is None:
                continue
            tokens = np.arange(len(seed_queries), dtype=np.int64)
            label_rows = tokens if seed == ITEM_INDEX else vocab.token_item
        else:
            tokens = np.flatnonzero(vocab.token_interaction == Interaction.parse(seed))
            tokens = tokens.astype(np.int64)
            seed_queries, label_rows = queries, vocab.token_item
        if info is None or not len(tokens):
            continue
        index = HnswSearch.load(
            out_dir / info.file, info.space, info.dim, info.ef_search, info.count, threads
        )
        tables.append(
            build_table(
                seed, target, tokens, seed_queries, label_rows, index,
                config.index.table_k, config.index.similarity, out_dir, progress,
            )
        )  # fmt: skip
    return tables
