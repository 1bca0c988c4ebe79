"""Candidate generators on toy worlds where the right answer is obvious."""

from __future__ import annotations

import numpy as np
import pytest

from contracts.interactions import Interaction
from contracts.search import ExactSearch
from trainer.evaluation.generators import (
    CategoryVectors,
    EmbeddingGenerator,
    Embeddings,
    category_popular_generator,
    distinct_top_k,
    popular_generator,
)
from trainer.evaluation.topk import TopKSearch

V, C = int(Interaction.VIEW), int(Interaction.CART)

# Pair rows: item 0 view, item 1 view, item 2 cart, item 2 view, item 3 view, item 4 cart.
VECTORS = np.array(
    [[1.0, 0.0], [0.9, 0.1], [1.0, 0.05], [0.0, 1.0], [-1.0, 0.0], [0.7, 0.7]], dtype=np.float32
)
WORLD = Embeddings(
    input=VECTORS,
    output=VECTORS,
    item=np.array([0, 1, 2, 2, 3, 4]),
    interaction=np.array([V, V, C, V, V, C], dtype=np.int8),
)


def test_distinct_top_k_drops_padding_repeats_and_the_query_item():
    items = np.array([[5, 3, 5, -1, 2, 3], [1, 1, 1, 1, 1, 1]])
    assert distinct_top_k(items, np.array([3, 1]), 3).tolist() == [[5, 2, -1], [-1, -1, -1]]


def test_any_target_lets_an_items_best_pair_stand_for_it():
    generator = EmbeddingGenerator(WORLD, 6, Interaction.VIEW, None, "cosine")
    got = generator.candidates(np.array([0]), k=4)
    assert got.items.tolist() == [[2, 1, 4, 3]]  # 2 via its cart row (cos 0.999), 1 (0.994)


def test_a_target_interaction_searches_only_its_rows():
    view = EmbeddingGenerator(WORLD, 6, Interaction.VIEW, Interaction.VIEW, "cosine")
    assert view.candidates(np.array([0]), k=4).items.tolist() == [[1, 2, 3, -1]]
    cart = EmbeddingGenerator(WORLD, 6, Interaction.VIEW, Interaction.CART, "cosine")
    assert cart.candidates(np.array([0]), k=3).items.tolist() == [[2, 4, -1]]


def test_an_item_without_the_query_pair_is_searched_with_its_other_pair():
    generator = EmbeddingGenerator(WORLD, 6, Interaction.VIEW, None, "cosine")
    got = generator.candidates(np.array([4, 5, 0]), k=2)  # 4 only carted, 5 unknown
    assert got.query.tolist() == [0, 4, 5]
    assert got.items[1].tolist() == [1, 2]  # by 4's cart vector: cos 0.78, then 0.74
    assert got.items[2].tolist() == [-1, -1]  # an unknown item gets nothing
    assert got.answered().tolist() == [True, True, False]


def test_inner_product_searches_output_vectors():
    outputs = np.zeros_like(VECTORS)
    outputs[4] = [1.0, 0.0]  # only item 3's view has a non-zero output vector
    world = Embeddings(VECTORS, outputs, WORLD.item, WORLD.interaction)
    generator = EmbeddingGenerator(world, 6, Interaction.VIEW, Interaction.VIEW, "inner_product")
    assert generator.candidates(np.array([0]), k=1).items.tolist() == [[3]]


def test_hnsw_search_gives_the_exact_answer_on_a_tiny_world():
    exact = EmbeddingGenerator(WORLD, 6, Interaction.VIEW, None, "cosine")
    approx = EmbeddingGenerator(WORLD, 6, Interaction.VIEW, None, "cosine", search="hnsw")
    query = np.array([0, 1, 2, 3])
    assert approx.candidates(query, 3).items.tolist() == exact.candidates(query, 3).items.tolist()


def test_popular_lists_the_top_items_without_the_query_item():
    generator = popular_generator(np.array([0.0, 5.0, 3.0, 0.0, 9.0]), k=2)
    got = generator.candidates(np.array([4, 0]), k=2)
    assert got.items.tolist() == [[4, 1], [1, 2]]  # query 0 first: rows follow sorted queries


def test_popular_in_category_uses_the_query_items_category():
    score = np.array([1.0, 5.0, 3.0, 2.0, 9.0, 0.0])
    category = np.array([0, 0, 1, 1, 0, -1])
    got = category_popular_generator(score, category, k=2).candidates(np.arange(6), k=2)
    assert got.items.tolist() == [[4, 1], [4, 0], [3, -1], [2, -1], [1, 0], [-1, -1]]


@pytest.mark.parametrize("space", ["cosine", "ip"])
@pytest.mark.parametrize("k", [1, 7, 40, 300])
def test_top_k_search_agrees_with_the_reference_exact_search(space, k):
    rng = np.random.default_rng(k)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    queries = rng.normal(size=(25, 16)).astype(np.float32)
    labels, scores = TopKSearch(vectors, space).query(queries, k)
    ref_labels, ref_scores = ExactSearch(vectors, None, space).query(queries, k)
    assert labels.tolist() == ref_labels.tolist()
    assert scores == pytest.approx(ref_scores, abs=1e-5)


def test_top_k_search_ranks_equal_scores_lower_row_first():
    vectors = np.repeat(np.eye(4, dtype=np.float32), 3, axis=0)
    labels, _ = TopKSearch(vectors, "ip").query(np.array([[0, 0, 1, 0]], np.float32), 3)
    assert labels.tolist() == [[6, 7, 8]]


def test_a_cold_item_is_searched_with_its_categorys_mean_and_is_never_a_candidate():
    # view rows: item 0 (1, 0), item 1 (0.9, 0.1), item 2 (0, 1), item 3 (-1, 0); items 5 and 6
    # have no row: 5 is in item 3's category, 6 has no category
    category = np.array([0, 0, 1, 2, 1, 2, -1])
    plain = EmbeddingGenerator(WORLD, 7, Interaction.VIEW, Interaction.VIEW, "cosine")
    cold = EmbeddingGenerator(
        WORLD, 7, Interaction.VIEW, Interaction.VIEW, "cosine", cold_category=category
    )
    query = np.array([0, 5, 6])
    assert plain.candidates(query, k=2).items.tolist() == [[1, 2], [-1, -1], [-1, -1]]
    # item 5 is searched with category 2's mean, item 3's vector (-1, 0): nearest item 3
    assert cold.candidates(query, k=2).items.tolist() == [[1, 2], [3, 2], [-1, -1]]


def test_a_cold_item_can_be_searched_with_its_categorys_learned_token_instead():
    category = np.array([0, 0, 1, 2, 1, 2, -1])
    # category 2's token points at item 2's view (0, 1), not at its mean, item 3's (-1, 0);
    # category 9 is beyond the evaluation's codes and ignored
    tokens = CategoryVectors(np.array([2, 9]), np.array([[0.1, 1.0], [1.0, 0.0]], np.float32))
    cold = EmbeddingGenerator(
        WORLD,
        7,
        Interaction.VIEW,
        Interaction.VIEW,
        "cosine",
        cold_category=category,
        cold_vectors=tokens,
    )
    assert cold.candidates(np.array([0, 5, 6]), k=2).items.tolist() == [[1, 2], [2, 1], [-1, -1]]
