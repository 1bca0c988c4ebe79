"""Popular items in a module or an answer: the backfill after a module's neighbours, and the
fallback answer when a user has nothing to be inspired by.

Both take the version's best sellers in turns over lists — a module's seeds' categories (each
naming its seed, ``reason: "popular_in_category"``), or the user's categories — then overall
ones, or, with a category filter, those of the filter's categories alone. Nothing is taken
twice, nothing blocked and nothing hidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from contracts.interactions import Interaction
from contracts.popular import Ranked
from service.model import Model
from service.reasons import POPULAR, Because, Candidate

_FIRST_CHUNK = 16  # entries a list decodes first; then as many again as it has


def popular(
    model: Model,
    categories: Sequence[str],
    k: int,
    blocked: Iterable[str],
    only: frozenset[str] | None = None,
    skip: frozenset[str] = frozenset(),
) -> list[Candidate]:
    """The fallback: popular items of ``categories`` in turns, then overall ones; with a
    category filter, of the ``only`` categories alone; never those in ``blocked`` or ``skip``."""
    chosen = dict.fromkeys(c for c in categories if only is None or c in only)
    lists = [(Because("popular", None, None, c), model.popular.of_category(c)) for c in chosen]
    kept = [(because, ranked) for because, ranked in lists if ranked]
    return fill(model, kept, k, set(blocked), only, skip)


def seed_categories(
    model: Model,
    seeds: Sequence[str],
    rows: Sequence[int],
    seed_interaction: Interaction,
    cold: Mapping[str, str],
) -> list[tuple[Because, Ranked]]:
    """Each seed with a category that has popular items, newest first: the ``because`` of its
    backfill and its category's popular items. A known seed's category is the catalogue's (of
    its item row in ``rows``), a cold seed's the one the caller passed."""
    lists = []
    category: str | None
    for seed, row in zip(seeds, rows, strict=True):
        if seed in cold:
            category, ranked = cold[seed], model.popular.of_category(cold[seed])
        else:
            category, ranked = model.category_of(row), model.popular_of(row)
        if ranked and category is not None:
            because = Because("popular_in_category", seed, seed_interaction.label, category)
            lists.append((because, ranked))
    return lists


def fill(
    model: Model,
    lists: list[tuple[Because, Ranked]],
    n: int,
    taken: set[str],
    only: frozenset[str] | None = None,
    skip: frozenset[str] = frozenset(),
) -> list[Candidate]:
    """Up to ``n`` popular items not in ``taken`` nor ``skip``: ``lists`` in turns, then overall
    ones (with a category filter: those of the ``only`` categories, in turns). Adds what it
    picks to ``taken``."""
    found: list[Candidate] = []
    _in_turns(lists, n, taken, skip, found)
    if len(found) < n:
        if only is None:
            everywhere = [(Because("popular", None, None, None), model.popular.overall)]
        else:
            of = model.popular.of_category
            allowed = [(Because("popular", None, None, c), of(c)) for c in sorted(only)]
            everywhere = [(b, r) for b, r in allowed if r is not None]
        _in_turns(everywhere, n, taken, skip, found)
    return found


def _in_turns(
    lists: list[tuple[Because, Ranked]],
    n: int,
    taken: set[str],
    skip: frozenset[str],
    found: list[Candidate],
) -> None:
    """Round robin over the lists until ``found`` holds ``n``: each turn, every list's next
    item not yet ``taken`` is picked (and taken), or, when it is in ``skip``, spends the list's
    turn. Two seeds of one category share its list so. A plain loop over each list's entries,
    decoded a growing chunk at a time (``_Place``): only about those looked at."""
    turn = [_Place(because, ranked) for because, ranked in lists]
    while turn:
        going = []
        for place in turn:
            if len(found) == n:
                return
            entry = place.next_not_in(taken)
            if entry is None:
                continue
            going.append(place)
            item, score = entry
            if item not in skip:
                taken.add(item)
                found.append(Candidate(item, score, None, POPULAR, place.because))
        turn = going


class _Place:
    """A list's place in the round robin: its entries decoded so far and the next one."""

    __slots__ = ("at", "because", "entries", "ranked")

    def __init__(self, because: Because, ranked: Ranked) -> None:
        self.because, self.ranked = because, ranked
        self.entries: list[tuple[str, float]] = []
        self.at = 0

    def next_not_in(self, taken: set[str]) -> tuple[str, float] | None:
        """The next entry whose item is not in ``taken``; None at the list's end."""
        entries, at = self.entries, self.at
        while True:
            if at == len(entries):
                more = self.ranked.between(at, at + max(_FIRST_CHUNK, at))
                if not more:
                    self.at = at
                    return None
                entries.extend(more)
            item, score = entries[at]
            at += 1
            if item not in taken:
                self.at = at
                return item, score
