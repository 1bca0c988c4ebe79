"""One hnswlib index per candidate interaction (plus the item index), with measured recall.

The index for interaction ``i`` holds the vectors of every (ℓ, i) pair, so "nearest *cart*
pairs to item A's *view* pair" is a single query. Queries are always input vectors u; what is
stored depends on the similarity: ``cosine`` stores input vectors (u·u / |u||u|), while
``inner_product`` stores output vectors (u·v, the paper's eq. 1). Recall@k of every index is
measured against exact search on a sample of query vectors drawn from all pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contracts.artifacts import SPACES, IndexInfo, index_path
from contracts.catalog import ENTITY_KINDS
from contracts.interactions import LABELS, Interaction
from contracts.manifest import Space
from contracts.search import HnswSearch, unit_rows
from trainer.config import IndexConfig
from trainer.progress import bar

RECALL_CHUNK = 16_384  # indexed rows scored at once by the recall check (64 MB at 1,000 queries)


@dataclass(frozen=True)
class IndexSource:
    """What to index: the rows of one model that make up one candidate set."""

    name: str  # an interaction label, an entity kind, or ITEM_INDEX
    labels: np.ndarray  # int64 row ids in the model (pair tokens or item rows)
    input: np.ndarray  # float32 input vectors of the whole model (the queries come from here)
    output: np.ndarray  # float32 output vectors of the whole model


def pair_sources(token_interaction: np.ndarray, u: np.ndarray, v: np.ndarray) -> list[IndexSource]:
    """One source per interaction that has at least one pair."""
    sources = []
    for interaction in Interaction:
        labels = np.flatnonzero(token_interaction == interaction).astype(np.int64)
        if len(labels):
            sources.append(IndexSource(interaction.label, labels, u, v))
    return sources


def entity_sources(
    kind: np.ndarray, first_token: int, u: np.ndarray, v: np.ndarray
) -> list[IndexSource]:
    """One source per entity kind that has tokens; labels are pair-model tokens."""
    sources = []
    for k, name in enumerate(ENTITY_KINDS):
        labels = first_token + np.flatnonzero(kind == k).astype(np.int64)
        if len(labels):
            sources.append(IndexSource(name, labels, u, v))
    return sources


def build_indexes(
    sources: list[IndexSource],
    out_dir: Path,
    config: IndexConfig,
    threads: int,
    seed: int,
    progress: bool = True,
) -> list[IndexInfo]:
    """Build, measure and save one index per source under ``out_dir``; describe each."""
    space = SPACES[config.similarity]
    stored = "in" if config.similarity == "cosine" else "out"
    infos = []
    for source in bar(sources, desc="hnsw", unit="index", enabled=progress):
        vectors = source.input if stored == "in" else source.output
        index = HnswSearch.build(
            vectors[source.labels],  # the one copy, hnswlib's input, freed once it is built
            source.labels,
            space,
            M=config.M,
            ef_construction=config.ef_construction,
            ef_search=config.ef_search,
            threads=threads,
            seed=seed,
        )
        rel = index_path(source.name, config.similarity)
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        index.save(out_dir / rel)
        sample = np.random.default_rng(seed).choice(
            len(source.input), size=min(config.recall_sample, len(source.input)), replace=False
        )
        k = min(config.recall_k, len(source.labels))
        queries = source.input[sample]
        found, _ = index.query(queries, k)
        truth = exact_labels(vectors, source.labels, queries, k, space)
        recall = sum(len(np.intersect1d(a, t)) for a, t in zip(found, truth, strict=True)) / (
            len(sample) * k
        )
        infos.append(
            IndexInfo(
                name=source.name,
                interaction=source.name if source.name in LABELS else None,
                similarity=config.similarity,
                space=space,
                file=rel,
                count=len(source.labels),
                dim=vectors.shape[1],
                M=config.M,
                ef_construction=config.ef_construction,
                ef_search=config.ef_search,
                stored_vectors=stored,
                recall={f"recall@{k}": round(recall, 4)},
                recall_sample=len(sample),
            )
        )
    return infos


def exact_labels(
    vectors: np.ndarray, rows: np.ndarray, queries: np.ndarray, k: int, space: Space
) -> np.ndarray:
    """The labels (``rows``) of the exact top ``k`` of ``vectors[rows]`` for each query, in no
    particular order, scanning RECALL_CHUNK rows at a time: the recall check needs no second
    copy of what was indexed. ``space``: "cosine" or "ip" (inner product)."""
    q = unit_rows(queries) if space == "cosine" else np.asarray(queries, np.float32)
    best = np.full((len(q), 0), -np.inf, np.float32)
    labels = np.empty((len(q), 0), np.int64)
    for start in range(0, len(rows), RECALL_CHUNK):
        chunk_rows = rows[start : start + RECALL_CHUNK]
        chunk = vectors[chunk_rows].astype(np.float32, copy=False)
        scores = q @ (unit_rows(chunk) if space == "cosine" else chunk).T
        scores = np.concatenate([best, scores], axis=1)
        ids = np.concatenate([labels, np.broadcast_to(chunk_rows, (len(q), len(chunk_rows)))], 1)
        keep = min(k, scores.shape[1])
        top = np.argpartition(-scores, keep - 1, axis=1)[:, :keep]
        best, labels = np.take_along_axis(scores, top, 1), np.take_along_axis(ids, top, 1)
    return labels
