"""The training config refuses what it cannot mean and fills in what a partial table leaves out."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from trainer.config import POPULAR_WEIGHTS, TrainConfig


def test_a_partial_popular_weights_table_changes_only_what_it_names():
    config = TrainConfig().with_overrides({"popular": {"weights": {"purchase": 10}}})
    assert config.popular.weights == POPULAR_WEIGHTS | {"purchase": 10.0}


@pytest.mark.parametrize("weights", [{"teleport": 1}, {"view": -1}, {"cart": float("nan")}])
def test_popular_weights_of_unknown_interactions_or_impossible_values_are_refused(weights):
    with pytest.raises(ValidationError, match=r"popular\.weights"):
        TrainConfig().with_overrides({"popular": {"weights": weights}})
