"""Popular items in a module or an answer: the backfill after a module's neighbours, and the
fallback answer when a user has nothing to be inspired by.

Both take the version's best sellers in turns over lists — a module's seeds' categories (each
naming its seed, ``reason: "popular_in_category"``), or the user's categories — then overall
ones, or, with a category filter, those of the filter's categories alone. Nothing is taken
twice, nothing blocked and nothing hidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain

from contracts.interactions import Interaction
from contracts.popular import Ranked
from service.model import Model
from service.reasons import POPULAR, Because, Candidate


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
    everywhere: Iterator[tuple[str, float, Because]]
    if only is None:
        overall = Because("popular", None, None, None)
        everywhere = ((item, score, overall) for item, score in model.popular.overall)
    else:
        of = model.popular.of_category
        allowed = [(Because("popular", None, None, c), of(c)) for c in sorted(only)]
        everywhere = _in_turns([(b, r) for b, r in allowed if r is not None], taken)
    for item, score, because in chain(_in_turns(lists, taken), everywhere):
        if len(found) == n:
            break
        if item not in taken and item not in skip:
            taken.add(item)
            found.append(Candidate(item, score, None, POPULAR, because))
    return found


def _in_turns(
    lists: list[tuple[Because, Ranked]], taken: set[str]
) -> Iterator[tuple[str, float, Because]]:
    """Round robin over the lists: each turn, every list's next item not yet ``taken`` (read
    as the caller adds to it), so two seeds of one category share its list. Each list is read
    through its iterator, which decodes a few ids at a time: only about those looked at."""
    turn = [(because, iter(ranked)) for because, ranked in lists]
    while turn:
        going = []
        for because, entries in turn:
            for item, score in entries:
                if item not in taken:
                    going.append((because, entries))
                    yield item, score, because
                    break
        turn = going
