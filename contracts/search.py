"""Nearest-neighbour search: one small interface, an exact implementation and an HNSW one.

``ExactSearch`` is numpy brute force: the reference answer and the recall oracle.
``HnswSearch`` wraps an hnswlib index and answers the same question approximately; whenever
hnswlib cannot produce the requested number of results it falls back to the exact answer over
the vectors the index stores, so callers never see hnswlib's "contiguous 2D array" error.

Scores are similarities, best first: cosine similarity for space ``cosine`` and the inner
product for space ``ip`` (hnswlib's distance is ``1 - similarity`` in both spaces).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Protocol, cast

import hnswlib
import numpy as np
import numpy.typing as npt

from contracts.artifacts import ArtifactError, Space

Labels = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float32]

_SPACES: tuple[Space, ...] = ("cosine", "ip")
_BATCH_CELLS = 1 << 23
"""Max query x item scores materialised at once by ExactSearch (32 MiB of float32)."""
_HNSW_HEADER = struct.Struct("<QQQQQQiIQQQdQ")
"""hnswlib's saveIndex header: offsetLevel0, max_elements, count, size_per_element,
label_offset, offset_data, maxlevel, enterpoint, maxM, maxM0, M, mult, ef_construction."""


class IndexLoadError(ArtifactError):
    """An index file is missing, unreadable, or does not match what the manifest says."""


class NeighborSearch(Protocol):
    """k-nearest-neighbour search over labelled vectors.

    ``query(vectors (n, dim), k)`` returns ``(labels int64 (n, k'), scores float32 (n, k'))``
    with ``k' = min(k, len(self))``, each row best first.
    """

    @property
    def dim(self) -> int: ...

    @property
    def space(self) -> Space: ...

    def __len__(self) -> int: ...

    def query(self, vectors: npt.ArrayLike, k: int) -> tuple[Labels, Scores]: ...


def _check_space(space: str) -> Space:
    if space not in _SPACES:
        raise ValueError(f"space {space!r} must be one of {_SPACES}")
    return cast(Space, space)


def unit_rows(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Rows scaled to unit length; all-zero rows stay zero (their similarity is 0)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, np.finfo(np.float32).tiny)).astype(np.float32)


def _items(vectors: npt.ArrayLike, labels: npt.ArrayLike | None) -> tuple[np.ndarray, Labels]:
    """Validated float32 (n, d) vectors and distinct int64 labels (default 0..n-1)."""
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    if data.ndim != 2 or data.shape[1] == 0:
        raise ValueError(f"vectors must be a 2-D (n, dim) array with dim > 0, got {data.shape}")
    if not np.isfinite(data).all():
        raise ValueError("vectors contain NaN or infinity")
    ids = np.arange(len(data), dtype=np.int64) if labels is None else np.asarray(labels)
    if ids.shape != (len(data),) or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"labels must be {len(data)} integers, got {ids.dtype} {ids.shape}")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("labels must be distinct")
    return data, ids.astype(np.int64)


def _queries(vectors: npt.ArrayLike, dim: int) -> npt.NDArray[np.float32]:
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    if data.ndim != 2 or data.shape[1] != dim:
        raise ValueError(f"queries must be (n, {dim}), got {data.shape}")
    return data


def _k_prime(k: int, count: int) -> int:
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    return min(k, count)


def _empty(n: int) -> tuple[Labels, Scores]:
    return np.empty((n, 0), dtype=np.int64), np.empty((n, 0), dtype=np.float32)


class ExactSearch:
    """Brute-force search: batched matrix products and a partial sort. Exact, O(n * count)."""

    def __init__(self, vectors: npt.ArrayLike, labels: npt.ArrayLike | None, space: Space) -> None:
        self._space = _check_space(space)
        data, self._labels = _items(vectors, labels)
        self._vectors = unit_rows(data) if space == "cosine" else data
        self._vectors.flags.writeable = False
        self._labels.flags.writeable = False

    @property
    def dim(self) -> int:
        return int(self._vectors.shape[1])

    @property
    def space(self) -> Space:
        return self._space

    @property
    def vectors(self) -> npt.NDArray[np.float32]:
        """The searched vectors, read-only (unit length in space ``cosine``)."""
        return self._vectors

    @property
    def labels(self) -> Labels:
        """The label of each row of ``vectors``, read-only."""
        return self._labels

    def __len__(self) -> int:
        return len(self._labels)

    def query(self, vectors: npt.ArrayLike, k: int) -> tuple[Labels, Scores]:
        """The ``min(k, len)`` most similar items per query row, best first."""
        queries = _queries(vectors, self.dim)
        kk = _k_prime(k, len(self))
        if kk == 0:
            return _empty(len(queries))
        if self._space == "cosine":
            queries = unit_rows(queries)
        labels = np.empty((len(queries), kk), dtype=np.int64)
        scores = np.empty((len(queries), kk), dtype=np.float32)
        rows = max(1, _BATCH_CELLS // len(self))
        for start in range(0, len(queries), rows):
            sims = queries[start : start + rows] @ self._vectors.T
            if kk < len(self):
                top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            else:
                top = np.broadcast_to(np.arange(kk), sims.shape)
            top_sims = np.take_along_axis(sims, top, axis=1)
            order = np.argsort(-top_sims, axis=1, kind="stable")
            labels[start : start + rows] = self._labels[np.take_along_axis(top, order, axis=1)]
            scores[start : start + rows] = np.take_along_axis(top_sims, order, axis=1)
        return labels, scores


class HnswSearch:
    """Approximate search with an hnswlib index; make one with ``build`` or ``load``.

    A loaded index is read-only: this class never adds, updates or deletes items, so many
    threads may query one instance (hnswlib releases the GIL while searching). A query's
    effective ``ef`` is ``max(ef_search, k)``, hnswlib's own rule: this class never changes
    the index's ``ef`` for a query, only ``set_ef`` does.
    Queries that hnswlib cannot answer in full are answered exactly instead (see ``exact``).
    """

    def __init__(self, index: hnswlib.Index, space: Space, ef_search: int) -> None:
        """Wrap an initialised index; prefer ``build`` and ``load``."""
        self._index = index
        self._space = _check_space(space)
        self._exact: ExactSearch | None = None
        self.set_ef(ef_search)

    @classmethod
    def build(
        cls,
        vectors: npt.ArrayLike,
        labels: npt.ArrayLike | None,
        space: Space,
        M: int = 64,
        ef_construction: int = 128,
        ef_search: int = 256,
        threads: int = 0,
        seed: int = 100,
    ) -> HnswSearch:
        """Index ``vectors`` under ``labels`` (non-negative, distinct; default 0..n-1).

        ``threads <= 0`` uses every core; the graph is reproducible only with ``threads=1``.
        """
        data, ids = _items(vectors, labels)
        if len(ids) and ids.min() < 0:
            raise ValueError("hnswlib labels must be non-negative")
        index = hnswlib.Index(space=_check_space(space), dim=data.shape[1])
        index.init_index(
            max_elements=len(data), M=M, ef_construction=ef_construction, random_seed=seed
        )
        index.set_num_threads(threads if threads > 0 else os.cpu_count() or 1)
        if len(data):
            index.add_items(data, ids.astype(np.uint64))
        return cls(index, space, ef_search)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        space: Space,
        dim: int,
        ef_search: int,
        count: int,
        threads: int = 1,
    ) -> HnswSearch:
        """Open an index saved by ``save``, refusing one whose dim or count is not as expected.

        hnswlib itself checks neither (a wrong ``dim`` would silently read garbage), so the
        file header is checked first. ``threads`` applies to multi-row queries; the service
        parallelises across requests, hence 1.
        """
        file = Path(path)
        try:
            with open(file, "rb") as f:
                header = _HNSW_HEADER.unpack(f.read(_HNSW_HEADER.size))
        except (OSError, struct.error) as exc:
            raise IndexLoadError(f"cannot read hnswlib index {file}: {exc}") from exc
        found_count, label_offset, data_offset = header[2], header[4], header[5]
        found_dim = (label_offset - data_offset) // np.dtype(np.float32).itemsize
        if found_dim != dim or found_count != count:
            raise IndexLoadError(
                f"{file} holds {found_count} vectors of dim {found_dim}, the manifest says "
                f"{count} of dim {dim}; the index does not belong to this version"
            )
        index = hnswlib.Index(space=_check_space(space), dim=dim)
        try:
            index.load_index(str(file), max_elements=count)
        except RuntimeError as exc:
            raise IndexLoadError(f"hnswlib cannot load {file}: {exc}") from exc
        index.set_num_threads(max(threads, 1))
        return cls(index, space, ef_search)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to ``path`` (parent folders are created)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._index.save_index(str(path))

    @property
    def dim(self) -> int:
        return int(self._index.dim)

    @property
    def space(self) -> Space:
        return self._space

    @property
    def M(self) -> int:
        return int(self._index.M)

    @property
    def ef_construction(self) -> int:
        return int(self._index.ef_construction)

    @property
    def ef_search(self) -> int:
        return self._ef_search

    def set_ef(self, ef_search: int) -> None:
        """Set the search breadth (higher: better recall, slower); at least 1."""
        if ef_search < 1:
            raise ValueError(f"ef_search must be at least 1, got {ef_search}")
        self._ef_search = ef_search
        self._index.set_ef(ef_search)

    def __len__(self) -> int:
        return int(self._index.element_count)

    def query(self, vectors: npt.ArrayLike, k: int) -> tuple[Labels, Scores]:
        """The ``min(k, len)`` approximately most similar items per query row, best first."""
        queries = _queries(vectors, self.dim)
        kk = _k_prime(k, len(self))
        if kk == 0 or len(queries) == 0:
            return _empty(len(queries))
        try:  # hnswlib searches with max(ef, k): the live index's ef is never changed here
            labels, distances = self._index.knn_query(queries, k=kk)
        except RuntimeError:
            return self.exact().query(queries, kk)
        return labels.astype(np.int64), (1.0 - distances).astype(np.float32)

    def exact(self) -> ExactSearch:
        """An ExactSearch over the vectors stored in the index (built once, on first use)."""
        if self._exact is None:
            ids = np.asarray(self._index.get_ids_list(), dtype=np.int64)
            vectors = self._index.get_items(ids.astype(np.uint64), return_type="numpy")
            vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
            self._exact = ExactSearch(vectors, ids, self._space)
        return self._exact


def recall_at_k(
    approx: NeighborSearch, exact: ExactSearch, queries: npt.ArrayLike, k: int
) -> float:
    """Mean fraction of the exact top-k labels that ``approx`` also returns (1.0 is perfect).

    Ties in the exact ranking (duplicate vectors) can make this slightly pessimistic.
    """
    data = _queries(queries, exact.dim)
    kk = _k_prime(k, len(exact))
    if len(data) == 0 or kk == 0:
        raise ValueError("recall needs at least one query and k >= 1 over a non-empty index")
    found, _ = approx.query(data, kk)
    truth, _ = exact.query(data, kk)
    hits = sum(len(np.intersect1d(a, t)) for a, t in zip(found, truth, strict=True))
    return hits / (len(data) * kk)
