"""The blend rule: when a seed's embedding neighbours give way to popular items of its category.

A module's candidates are the embedding neighbours of its seeds, kept only while their score is
at least a threshold, then — when they run short of k — a labelled backfill: the popular items
of the seeds' categories (``because.reason = "popular_in_category"``), then popular overall.
The thresholds are chosen by the trainer on a validation split carved from the training window
(``trainer/evaluation/served.py``) and recorded in the manifest's ``blend``; nothing here is a
constant of the code. They depend on how the seed was searched (its ``way``: its pair vector,
its no-interaction item vector, or its category's vector for a cold item) and on k: a short
module needs more confident neighbours than a long one to beat the category's best sellers.

The rule is learned for the modules whose seeds have ``seed_interaction`` (the "viewed" module:
the validation pairs are answered as view seeds); a module of other seeds (the "carted" one)
keeps every neighbour — its scores come from another table and would need their own rule. A
version without ``blend`` (older trainers) keeps every neighbour: threshold −∞.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

WAYS = ("item-interaction", "item", "category")
"""How a seed is searched; the same names as a candidate's ``embedding`` field."""


class BlendRule(BaseModel):
    """Per way, per k: the lowest neighbour score kept before the popular backfill."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    seed_interaction: str = "view"  # the modules it was learned for (their seeds' interaction)
    # way → {k: threshold}; a missing way keeps every neighbour. JSON keys are strings.
    thresholds: dict[str, dict[int, float]] = Field(default_factory=dict)
    # What the choice was made on and what it gained (validation split, hit rates): the record.
    chosen_on: dict[str, Any] = Field(default_factory=dict)

    @field_validator("thresholds")
    @classmethod
    def _known_ways(cls, value: dict[str, dict[int, float]]) -> dict[str, dict[int, float]]:
        unknown = set(value) - set(WAYS)
        if unknown:
            raise ValueError(f"blend ways must be among {WAYS}, got {sorted(unknown)}")
        if any(k < 1 for per_k in value.values() for k in per_k):
            raise ValueError("blend thresholds are keyed by k >= 1")
        return {way: dict(sorted(per_k.items())) for way, per_k in value.items()}

    def threshold(self, way: str, k: int, seed_interaction: str = "view") -> float:
        """The threshold for a module of ``k`` candidates whose seeds have
        ``seed_interaction``: the one learned at the smallest learned k at or above ``k`` (the
        largest learned k past them); −∞ if none, or for another module's seeds."""
        per_k = self.thresholds.get(way)
        if not per_k or seed_interaction != self.seed_interaction:
            return -math.inf
        for learned, value in per_k.items():
            if learned >= k:
                return value
        return per_k[max(per_k)]


def threshold_of(rule: BlendRule | None, way: str, k: int, seed_interaction: str = "view") -> float:
    """``rule.threshold(...)``, or −∞ (keep every neighbour) for a version without a rule."""
    return -math.inf if rule is None else rule.threshold(way, k, seed_interaction)
