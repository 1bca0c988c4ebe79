"""Neighbour tables: the top-k target pairs of every seed pair, computed offline.

The paper computes each pair's HNSW top-k after training; serving then reads a row instead of
searching. For a table ``seed>target`` every (ℓ, seed) pair is queried once, in batches, against
the ``target`` index, and the neighbours are stored as item rows (int32) with their similarity
(float16), best first. The service memory-maps the files, so all workers share one copy in the
page cache, and keeps the live index for what a table cannot answer (other interactions, a k
deeper than the table).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from contracts.artifacts import neighbor_table_paths
from contracts.interactions import Interaction
from contracts.manifest import IndexInfo, NeighborTableInfo, Similarity
from contracts.search import HnswSearch, NeighborSearch
from trainer.config import TrainConfig
from trainer.vocab import Vocab

BATCH = 4096  # queries per knn_query call


def build_table(
    seed: Interaction,
    target: Interaction,
    token_interaction: np.ndarray,
    token_item: np.ndarray,
    queries: np.ndarray,
    index: NeighborSearch,
    k: int,
    similarity: Similarity,
    out_dir: Path,
    progress: bool = True,
) -> NeighborTableInfo:
    """Query every ``seed`` pair's vector (rows of ``queries``) against ``index``; save."""
    tokens = np.flatnonzero(token_interaction == seed).astype(np.int64)
    k = min(k, len(index))
    items = np.full((len(tokens), k), -1, dtype=np.int32)
    scores = np.zeros((len(tokens), k), dtype=np.float16)
    desc = f"table {seed.label}>{target.label}"
    for start in tqdm(range(0, len(tokens), BATCH), desc=desc, unit="batch", disable=not progress):
        batch = tokens[start : start + BATCH]
        labels, found = index.query(np.asarray(queries[batch]), k)
        items[start : start + len(batch), : labels.shape[1]] = token_item[labels]
        scores[start : start + len(batch), : labels.shape[1]] = found
    paths = neighbor_table_paths(seed.label, target.label)
    (out_dir / paths[0]).parent.mkdir(parents=True, exist_ok=True)
    arrays: tuple[np.ndarray, ...] = (tokens, items, scores)
    for path, array in zip(paths, arrays, strict=True):
        np.save(out_dir / path, array)
    return NeighborTableInfo(
        seed=seed.label,
        target=target.label,
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
) -> list[NeighborTableInfo]:
    """Every table of ``config.index.tables`` whose seed has pairs and whose target an index.

    Each target index is read back from ``out_dir`` as the service will read it.
    """
    by_name = {info.name: info for info in indexes}
    tables = []
    for entry in config.index.tables:
        seed, target = (Interaction.parse(name) for name in entry.split(">"))
        info = by_name.get(target.label)
        if info is None or not (vocab.token_interaction == seed).any():
            continue
        index = HnswSearch.load(
            out_dir / info.file, info.space, info.dim, info.ef_search, info.count, threads
        )
        tables.append(
            build_table(
                seed, target, vocab.token_interaction, vocab.token_item, queries, index,
                config.index.table_k, config.index.similarity, out_dir, progress,
            )
        )  # fmt: skip
    return tables
