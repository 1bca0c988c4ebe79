"""The blend rule's thresholds: per way, by k, −∞ without a rule."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from contracts.blend import BlendRule, threshold_of

# learned at k = 10, 50, 100, given out of order: the rule sorts them
RULE = BlendRule(thresholds={"item-interaction": {100: 0.2, 10: 0.5, 50: 0.3}, "item": {20: 0.7}})


@pytest.mark.parametrize(
    ("k", "expected"),
    [(1, 0.5), (10, 0.5), (11, 0.3), (50, 0.3), (51, 0.2), (100, 0.2), (101, 0.2), (500, 0.2)],
)
def test_the_threshold_is_the_smallest_learned_k_at_or_above_k_else_the_largest(k, expected):
    assert RULE.threshold("item-interaction", k) == expected


def test_each_way_has_its_own_thresholds():
    assert RULE.threshold("item", 5) == 0.7
    assert RULE.threshold("item", 300) == 0.7


def test_a_way_without_thresholds_keeps_every_neighbour():
    assert RULE.threshold("category", 10) == -math.inf


def test_a_version_without_a_rule_keeps_every_neighbour():
    assert threshold_of(None, "item-interaction", 10) == -math.inf
    assert threshold_of(RULE, "item-interaction", 10) == 0.5


def test_the_rule_reads_back_from_json_with_integer_ks():
    again = BlendRule.model_validate_json(RULE.model_dump_json())
    assert again == RULE
    assert again.threshold("item-interaction", 11) == 0.3


@pytest.mark.parametrize(
    "thresholds",
    [{"pair": {10: 0.5}}, {"popular": {10: 0.5}}, {"item": {0: 0.5}}],
    ids=["unknown-way", "popular-is-no-way", "k-below-1"],
)
def test_unknown_ways_and_ks_below_one_are_refused(thresholds):
    with pytest.raises(ValidationError):
        BlendRule(thresholds=thresholds)


def test_a_rule_applies_only_to_the_modules_it_was_learned_for():
    assert RULE.seed_interaction == "view"
    assert RULE.threshold("item-interaction", 10, "cart") == -math.inf
    assert threshold_of(RULE, "item-interaction", 10, "cart") == -math.inf
    assert threshold_of(RULE, "item-interaction", 10, "view") == 0.5
