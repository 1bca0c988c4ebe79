"""What a candidate says about itself: the item, its score, how it was found and why.

Shared by the module rule (``retrieval.py``), the popular lists (``popular.py``) and the entity
neighbours (``entities.py``); the JSON shape is ``CandidateOut``'s (``schemas.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

# A candidate's ``embedding``: what its seed was searched with (CandidateOut documents them).
PAIR, ITEM, CATEGORY, ENTITY = "item-interaction", "item", "category", "entity"
POPULAR = "popular"


@dataclass
class Because:
    """Why a candidate is there: a seed (shared by all its candidates) or popularity."""

    reason: str  # "seed", "popular_in_category" (a seed's category's backfill) or "popular"
    item_id: str | None  # the seed that produced it
    interaction: str | None  # the seed's interaction
    category_id: str | None = None  # the category of a popular item or of a cold seed


@dataclass
class Candidate:
    """One recommended item and why, in the JSON shape of ``CandidateOut``.

    Plain dataclasses that orjson serialises directly, fields in this order: read-only by
    convention, not frozen (a module builds a few hundred per request, and a frozen init costs
    3x), and without ``__slots__`` (orjson serialises slotted ones ~10x slower).
    """

    item_id: str
    score: float
    interaction: str | None  # the predicted interaction (the index it was found in)
    embedding: str  # PAIR, ITEM (no pair), CATEGORY (cold seed), ENTITY, or POPULAR
    because: Because
