"""Nearest-neighbour search: one contract, run against the exact and the HNSW implementation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from contracts.artifacts import ArtifactError, Space
from contracts.search import (
    ExactSearch,
    HnswSearch,
    IndexLoadError,
    NeighborSearch,
    recall_at_k,
)

SPACES: tuple[Space, ...] = ("cosine", "ip")


def random_vectors(n: int, dim: int, seed: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, dim)) * rng.uniform(0.5, 2.0, size=(n, 1))).astype(np.float32)


def similarity(a: np.ndarray, b: np.ndarray, space: Space) -> np.ndarray:
    """What the score of every (query, item) pair must be, computed the plain numpy way."""
    if space == "cosine":
        a = a / np.linalg.norm(a, axis=-1, keepdims=True)
        b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.einsum("...d,...d->...", a, b)


class SearchContract:
    """Behaviour every NeighborSearch must have; subclasses say how to build one."""

    def make(self, vectors: np.ndarray, labels: np.ndarray | None, space: Space) -> NeighborSearch:
        raise NotImplementedError

    @pytest.mark.parametrize("space", SPACES)
    def test_shapes_and_dtypes(self, space: Space) -> None:
        search = self.make(random_vectors(100, 8), None, space)
        labels, scores = search.query(random_vectors(5, 8, seed=1), k=7)
        assert (search.dim, search.space, len(search)) == (8, space, 100)
        assert labels.shape == scores.shape == (5, 7)
        assert labels.dtype == np.int64 and scores.dtype == np.float32

    @pytest.mark.parametrize("space", SPACES)
    def test_scores_are_the_similarity_of_the_returned_items_best_first(self, space: Space) -> None:
        vectors = random_vectors(200, 16)
        queries = random_vectors(10, 16, seed=2)
        labels, scores = self.make(vectors, None, space).query(queries, k=10)
        expected = similarity(queries[:, None, :], vectors[labels], space)
        np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)
        assert (np.diff(scores, axis=1) <= 1e-6).all()

    @pytest.mark.parametrize("space", SPACES)
    def test_k_larger_than_the_index_returns_every_item(self, space: Space) -> None:
        search = self.make(random_vectors(6, 4), None, space)
        labels, scores = search.query(random_vectors(3, 4, seed=3), k=50)
        assert labels.shape == scores.shape == (3, 6)
        assert all(sorted(row) == list(range(6)) for row in labels.tolist())

    def test_k_zero_returns_empty_rows(self) -> None:
        labels, scores = self.make(random_vectors(6, 4), None, "ip").query(
            random_vectors(2, 4), k=0
        )
        assert labels.shape == scores.shape == (2, 0)

    @pytest.mark.parametrize("space", SPACES)
    def test_labels_are_preserved(self, space: Space) -> None:
        vectors, queries = random_vectors(50, 8), random_vectors(5, 8, seed=8)
        ids = np.arange(50, dtype=np.int64) * 7 + 1000
        labels, _ = self.make(vectors, ids, space).query(queries, k=3)
        rows, _ = ExactSearch(vectors, None, space).query(queries, k=3)
        np.testing.assert_array_equal(labels, ids[rows])

    def test_known_answer_cosine_prefers_direction(self) -> None:
        vectors = np.array([[10.0, 10.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.1]], np.float32)
        labels, _ = self.make(vectors, np.array([40, 10, 20, 30]), "cosine").query(
            np.array([[1.0, 0.05]], np.float32), k=4
        )
        assert labels.tolist() == [[10, 40, 20, 30]]

    def test_known_answer_inner_product_prefers_magnitude(self) -> None:
        vectors = np.array([[10.0, 10.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.1]], np.float32)
        labels, scores = self.make(vectors, np.array([40, 10, 20, 30]), "ip").query(
            np.array([[1.0, 0.05]], np.float32), k=2
        )
        assert labels.tolist() == [[40, 10]]
        np.testing.assert_allclose(scores, [[10.5, 1.0]], rtol=1e-5)

    def test_wrong_query_dimension_is_refused(self) -> None:
        search = self.make(random_vectors(10, 4), None, "cosine")
        with pytest.raises(ValueError, match=r"\(n, 4\)"):
            search.query(random_vectors(1, 5), k=1)

    def test_duplicate_labels_are_refused(self) -> None:
        with pytest.raises(ValueError, match="distinct"):
            self.make(random_vectors(3, 4), np.array([1, 1, 2]), "ip")


class TestExactSearch(SearchContract):
    def make(self, vectors: np.ndarray, labels: np.ndarray | None, space: Space) -> ExactSearch:
        return ExactSearch(vectors, labels, space)

    def test_batches_give_the_same_answer_as_one_product(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        vectors, queries = random_vectors(300, 8), random_vectors(40, 8, seed=5)
        whole = ExactSearch(vectors, None, "ip").query(queries, k=5)
        monkeypatch.setattr("contracts.search._BATCH_CELLS", 300 * 3)
        batched = ExactSearch(vectors, None, "ip").query(queries, k=5)
        np.testing.assert_array_equal(whole[0], batched[0])


class TestHnswSearch(SearchContract):
    def make(self, vectors: np.ndarray, labels: np.ndarray | None, space: Space) -> HnswSearch:
        return HnswSearch.build(vectors, labels, space, M=16, ef_construction=64, threads=1)

    @pytest.mark.parametrize("space", SPACES)
    def test_recall_at_10_is_at_least_95_percent(self, space: Space) -> None:
        vectors = random_vectors(2000, 32)
        search = HnswSearch.build(vectors, None, space, ef_search=256)
        exact = ExactSearch(vectors, None, space)
        assert recall_at_k(search, exact, random_vectors(200, 32, seed=9), k=10) >= 0.95

    @pytest.mark.parametrize("space", SPACES)
    def test_save_load_round_trip_answers_the_same(self, space: Space, tmp_path: Path) -> None:
        vectors, queries = random_vectors(300, 8), random_vectors(20, 8, seed=4)
        built = self.make(vectors, np.arange(300) * 3, space)
        built.save(tmp_path / "index" / "view.hnsw")
        loaded = HnswSearch.load(tmp_path / "index" / "view.hnsw", space, 8, 256, 300)
        assert (len(loaded), loaded.dim, loaded.M, loaded.ef_search) == (300, 8, 16, 256)
        for got, want in zip(loaded.query(queries, 10), built.query(queries, 10), strict=True):
            np.testing.assert_array_equal(got, want)

    def test_count_mismatch_on_load_is_refused(self, tmp_path: Path) -> None:
        self.make(random_vectors(30, 8), None, "ip").save(tmp_path / "i.hnsw")
        with pytest.raises(IndexLoadError, match="30 vectors") as caught:
            HnswSearch.load(tmp_path / "i.hnsw", "ip", 8, 64, count=31)
        assert isinstance(caught.value, ArtifactError)

    def test_dim_mismatch_on_load_is_refused(self, tmp_path: Path) -> None:
        self.make(random_vectors(30, 8), None, "ip").save(tmp_path / "i.hnsw")
        with pytest.raises(IndexLoadError, match="dim 8"):
            HnswSearch.load(tmp_path / "i.hnsw", "ip", 16, 64, count=30)

    def test_missing_or_truncated_file_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(IndexLoadError):
            HnswSearch.load(tmp_path / "absent.hnsw", "ip", 8, 64, count=30)
        self.make(random_vectors(30, 8), None, "ip").save(tmp_path / "i.hnsw")
        data = (tmp_path / "i.hnsw").read_bytes()
        (tmp_path / "i.hnsw").write_bytes(data[: len(data) // 2])
        with pytest.raises(IndexLoadError):
            HnswSearch.load(tmp_path / "i.hnsw", "ip", 8, 64, count=30)

    def test_unreachable_results_fall_back_to_the_exact_answer(self) -> None:
        """A sparse inner-product graph cannot reach every item; hnswlib would raise."""
        vectors = random_vectors(200, 4)
        sparse = HnswSearch.build(vectors, None, "ip", M=2, ef_construction=2, threads=1)
        queries = random_vectors(20, 4, seed=6)
        labels, scores = sparse.query(queries, k=200)
        want_labels, want_scores = ExactSearch(vectors, None, "ip").query(queries, k=200)
        np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-5)
        assert labels.shape == want_labels.shape == (20, 200)

    def test_exact_view_holds_the_indexed_vectors(self) -> None:
        vectors = random_vectors(40, 8)
        exact = self.make(vectors, np.arange(40) + 100, "ip").exact()
        order = np.argsort(exact.labels)
        np.testing.assert_allclose(exact.vectors[order], vectors, rtol=1e-6)

    def test_large_k_raises_ef_and_set_ef_resets_it(self) -> None:
        search = self.make(random_vectors(500, 8), None, "cosine")
        search.set_ef(10)
        labels, _ = search.query(random_vectors(2, 8, seed=7), k=100)
        assert labels.shape == (2, 100) and search.ef_search == 10
        with pytest.raises(ValueError):
            search.set_ef(0)


def test_recall_of_the_exact_search_against_itself_is_one() -> None:
    vectors = random_vectors(100, 8)
    exact = ExactSearch(vectors, None, "cosine")
    assert recall_at_k(exact, exact, vectors[:10], k=5) == 1.0
