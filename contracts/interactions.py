"""The canonical interactions and their order: the one source of truth for both sides.

The paper's partial order is purchase > cart > favorite > view. Codes follow that order, so
"j above i in the hierarchy" is simply ``code(j) > code(i)`` and arrays can be indexed by code.
"""

from __future__ import annotations

from enum import IntEnum


class Interaction(IntEnum):
    """A canonical interaction; the integer value is its rank in the hierarchy."""

    VIEW = 0
    FAVORITE = 1
    CART = 2
    PURCHASE = 3

    @property
    def label(self) -> str:
        """The lower-case name used in files, the API and Redis keys."""
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> Interaction:
        """The interaction called ``name`` (case-insensitive); ValueError naming the choices."""
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown interaction {name!r}; expected one of {', '.join(LABELS)}"
            ) from None

    def above(self) -> tuple[Interaction, ...]:
        """The interactions strictly above this one in the hierarchy, lowest first."""
        return tuple(i for i in Interaction if i > self)


LABELS: tuple[str, ...] = tuple(i.label for i in Interaction)
N_INTERACTIONS = len(Interaction)
