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
from contracts.search import ExactSearch, HnswSearch, recall_at_k
from trainer.config import IndexConfig
from trainer.progress import bar


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
        stored_vectors = np.ascontiguousarray(vectors[source.labels])
        index = HnswSearch.build(
            stored_vectors,
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
        exact = ExactSearch(stored_vectors, source.labels, space)
        k = min(config.recall_k, len(source.labels))
        recall = recall_at_k(index, exact, source.input[sample], k)
        infos.append(
            IndexInfo(
                name=source.name,
                interaction=source.name if source.name in LABELS else None,
                similarity=config.similarity,
                space=space,
                file=rel,
                count=len(source.labels),
                dim=stored_vectors.shape[1],
                M=config.M,
                ef_construction=config.ef_construction,
                ef_search=config.ef_search,
                stored_vectors=stored,
                recall={f"recall@{k}": round(recall, 4)},
                recall_sample=len(sample),
            )
        )
    return infos
