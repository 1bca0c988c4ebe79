"""The popular items of a version, overall and per category, on arrays: their one definition.

Written by the trainer (``trainer/popular.py``), read by the service (fallback and backfill)
and by ``evaluate --artifacts``. A popular folder (a version's ``popular/``, since artifact
schema 3, and a prepared folder's) holds::

    overall.{bytes,offsets.npy,hash.npy,order.npy}
                                string table (contracts/strings.py): the overall list's item
                                ids, best first (row = position)
    overall_scores.npy          float64 (n_overall,): their scores
    categories.{bytes,offsets.npy,hash.npy,order.npy}
                                string table: the categories with a list; row c has list c
    category_offsets.npy        int64 (n_categories + 1,): list c is the entries (rows)
                                ``offsets[c]:offsets[c + 1]`` of the two below
    category_items.{bytes,offsets.npy,hash.npy,order.npy}
                                string table: every list's item ids, list after list, each
                                best first (row = entry)
    category_scores.npy         float64 (n_entries,): their scores

An item id is stored where it is listed, not once in a table of distinct items pointed into by
rows: an item has one category, so it is in one list (and maybe the overall one) and a table of
distinct ids would save next to nothing, while a list that is a run of rows reads a few ids
from one slice of bytes (``StringTable.span``). Every file is memory-mapped read-only, so the
workers of a host share one copy through the page cache: at 100k categories × top 100 a worker
used to parse ten million (id, score) tuples of its own at every load. A list is a ``Ranked``
view over its run: ids are decoded as they are read, so an answer decodes about the few items
it takes.

Scores are float64: the old ``popular.json`` held weighted counts rounded to 3 decimals as
JSON numbers, and float64 keeps them (and so the answers) exactly; float32 would turn 3.1 into
3.0999999 and lose units past 2^24.

Versions of schema 1 and 2 hold ``popular.json`` instead
(``{"overall": [{"item_id", "score"}, ...], "by_category": {"<category>": [...]}}``);
``from_json`` converts it to the same arrays, in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from contracts.manifest import ArtifactError
from contracts.strings import StringTable, StringTableError, mapped, table_files

OVERALL = "overall"
OVERALL_SCORES = "overall_scores.npy"
CATEGORIES = "categories"
CATEGORY_OFFSETS = "category_offsets.npy"
CATEGORY_ITEMS = "category_items"
CATEGORY_SCORES = "category_scores.npy"
TABLES = (OVERALL, CATEGORIES, CATEGORY_ITEMS)
ARRAYS = (OVERALL_SCORES, CATEGORY_OFFSETS, CATEGORY_SCORES)
FILES = (*(name for stem in TABLES for name in table_files(stem)), *ARRAYS)
"""Every file of a popular folder, relative to it."""
_DTYPES = {OVERALL_SCORES: np.float64, CATEGORY_OFFSETS: np.int64, CATEGORY_SCORES: np.float64}
_CHUNK = 16  # ids a list decodes at a time when iterated: an answer takes a few

Entries = Sequence[tuple[str, float]]


DECODED_ENTRIES = 65_536
"""Decoded (id, score) entries a ``Popular`` keeps for reuse, per table (~10 MB at most)."""


class Decoded:
    """Runs of a string table's entries already decoded, by (first row, end row): a request's
    backfill reads the heads of a few popular lists, in the same chunks as the requests before
    it (docs/benchmarks.md, issue 17). Emptied when it holds ``DECODED_ENTRIES`` entries."""

    __slots__ = ("entries", "runs")

    def __init__(self) -> None:
        self.runs: dict[tuple[int, int], list[tuple[str, float]]] = {}
        self.entries = 0

    def get(self, key: tuple[int, int]) -> list[tuple[str, float]] | None:
        return self.runs.get(key)

    def put(self, key: tuple[int, int], run: list[tuple[str, float]]) -> None:
        if self.entries + len(run) > DECODED_ENTRIES:
            self.runs.clear()
            self.entries = 0
        self.runs[key] = run
        self.entries += len(run)


class Ranked:
    """One ranked list, best first: rows ``start:stop`` of a string table and their scores.
    ``len``, ``item(i)`` / ``score(i)`` by position, and iteration over (item id, score) pairs,
    decoded a few at a time as they are read."""

    __slots__ = ("_decoded", "_ids", "scores", "start", "stop")

    def __init__(
        self,
        ids: StringTable,
        start: int,
        stop: int,
        scores: np.ndarray,
        decoded: Decoded | None = None,
    ) -> None:
        self._ids = ids
        self.start, self.stop = start, stop
        self.scores = scores  # float64, one per position
        self._decoded = decoded  # the table's runs decoded already, shared by its lists

    def __len__(self) -> int:
        return self.stop - self.start

    def item(self, at: int) -> str:
        if not 0 <= at < len(self):
            raise IndexError(f"position {at} outside a list of {len(self)}")
        return self._ids[self.start + at]

    def score(self, at: int) -> float:
        return float(self.scores[at])

    def head(self, n: int | None = None) -> list[tuple[str, float]]:
        """The first ``n`` entries (all with None), decoded at once: a list of one's own."""
        return list(self.between(0, len(self) if n is None else n))

    def between(self, first: int, last: int) -> list[tuple[str, float]]:
        """The entries at positions ``first`` to ``last - 1`` (clipped to the list), decoded at
        once, or reused: the list may be shared, so it is read, never changed."""
        first, last = max(first, 0), min(last, len(self))
        if first >= last:
            return []
        key = (self.start + first, self.start + last)
        decoded = self._decoded
        run = decoded.get(key) if decoded is not None else None
        if run is None:
            ids = self._ids.span(*key)
            run = list(zip(ids, self.scores[first:last].tolist(), strict=True))
            if decoded is not None:
                decoded.put(key, run)
        return run

    def __iter__(self) -> Iterator[tuple[str, float]]:
        for first in range(0, len(self), _CHUNK):
            yield from self.between(first, first + _CHUNK)


class Popular:
    """Ranked (item id, score) lists, best first: ``overall`` and ``of_category(id)``."""

    def __init__(
        self,
        overall: StringTable,
        overall_scores: np.ndarray,
        categories: StringTable,
        category_offsets: np.ndarray,
        category_items: StringTable,
        category_scores: np.ndarray,
    ) -> None:
        self.overall_items = overall
        self.overall_scores = overall_scores
        self.categories = categories  # iterate it for the category ids, in list order
        self.category_offsets = category_offsets
        self.category_items = category_items
        self.category_scores = category_scores
        self._decoded = Decoded(), Decoded()  # the overall list's, the category lists'

    @classmethod
    def from_codes(
        cls,
        item_ids: Sequence[str] | np.ndarray,
        overall: np.ndarray,
        overall_scores: np.ndarray,
        category_ids: Sequence[str] | np.ndarray,
        category_offsets: np.ndarray,
        category_items: np.ndarray,
        category_scores: np.ndarray,
    ) -> Popular:
        """The lists given as codes into ``item_ids`` (a log's ids, say), as a ranking on
        arrays makes them: an id string per entry, no tuple."""
        ids = np.asarray(item_ids, dtype=object)
        return cls(
            StringTable.build(str(i) for i in ids[np.asarray(overall, np.int64)]),
            np.asarray(overall_scores, np.float64),
            StringTable.build(str(c) for c in category_ids),
            np.asarray(category_offsets, np.int64),
            StringTable.build(str(i) for i in ids[np.asarray(category_items, np.int64)]),
            np.asarray(category_scores, np.float64),
        )

    @classmethod
    def build(cls, overall: Entries, by_category: Mapping[str, Entries]) -> Popular:
        """From Python lists (old files, tests, small writers); categories in mapping order."""
        entries = [entry for ranked in by_category.values() for entry in ranked]
        offsets = np.zeros(len(by_category) + 1, np.int64)
        np.cumsum([len(ranked) for ranked in by_category.values()], out=offsets[1:])
        return cls(
            StringTable.build(item for item, _ in overall),
            np.array([score for _, score in overall], np.float64),
            StringTable.build(by_category),
            offsets,
            StringTable.build(item for item, _ in entries),
            np.array([score for _, score in entries], np.float64),
        )

    @property
    def overall(self) -> Ranked:
        items, scores = self.overall_items, self.overall_scores
        return Ranked(items, 0, len(items), scores, self._decoded[0])

    def of_category(self, category: str) -> Ranked | None:
        """The list of ``category``; None for a category without one."""
        rows = self.categories.rows_with(category)  # one key: its scalar path is the fastest
        return self.list_at(rows[0]) if rows else None

    def lists(self) -> Iterator[tuple[str, Ranked]]:
        """Every category and its list, in row order."""
        for row, category in enumerate(self.categories):
            yield category, self.list_at(row)

    def list_at(self, row: int) -> Ranked:
        """The list of the category at ``row`` of ``categories``."""
        start, stop = int(self.category_offsets[row]), int(self.category_offsets[row + 1])
        scores = self.category_scores[start:stop]
        return Ranked(self.category_items, start, stop, scores, self._decoded[1])

    def to_lists(self) -> tuple[list[tuple[str, float]], dict[str, list[tuple[str, float]]]]:
        """Everything decoded, as Python lists (tests, tools; never on a request's path)."""
        return self.overall.head(), {c: ranked.head() for c, ranked in self.lists()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Popular) and self.to_lists() == other.to_lists()

    __hash__ = None  # type: ignore[assignment]

    def _tables(self) -> tuple[StringTable, ...]:
        return self.overall_items, self.categories, self.category_items

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return self.overall_scores, self.category_offsets, self.category_scores

    def write(self, folder: Path) -> None:
        """The files of a popular folder (created if need be), as ``open`` reads them."""
        folder.mkdir(parents=True, exist_ok=True)
        for stem, table in zip(TABLES, self._tables(), strict=True):
            table.write(folder, stem)
        for name, array in zip(ARRAYS, self._arrays(), strict=True):
            np.save(folder / name, np.asarray(array, _DTYPES[name]))

    @classmethod
    def open(cls, folder: Path) -> Popular:
        """The folder's lists, memory-mapped; ArtifactError naming the file that is missing,
        unreadable, of another dtype or shape, or that disagrees with the others."""
        tables = {}
        for stem in TABLES:
            try:
                tables[stem] = StringTable.open(folder, stem)
            except StringTableError as exc:  # its message starts with the stem
                raise ArtifactError(f"{folder.name}/{exc}") from exc
            except (OSError, ValueError) as exc:
                raise ArtifactError(f"{folder.name}/{stem} is unreadable: {exc}") from exc
        arrays = {}
        for name in ARRAYS:
            try:
                arrays[name] = mapped(folder / name)
            except (OSError, ValueError) as exc:
                raise ArtifactError(f"{folder.name}/{name} is unreadable: {exc}") from exc
        popular = cls(
            tables[OVERALL],
            arrays[OVERALL_SCORES],
            tables[CATEGORIES],
            arrays[CATEGORY_OFFSETS],
            tables[CATEGORY_ITEMS],
            arrays[CATEGORY_SCORES],
        )
        found = popular.problem()
        if found is not None:
            name, what = found
            raise ArtifactError(f"{folder.name}/{name}: {what}")
        return popular

    def problem(self) -> tuple[str, str] | None:
        """The first file that disagrees and how, None when they all agree."""
        for name, array in zip(ARRAYS, self._arrays(), strict=True):
            if array.dtype != _DTYPES[name] or array.ndim != 1:
                want = np.dtype(_DTYPES[name]).name
                return name, f"{array.dtype} {array.shape}, not {want} (n,)"
        n_overall, n_entries = len(self.overall_items), len(self.category_items)
        if len(self.overall_scores) != n_overall:
            return OVERALL_SCORES, f"{len(self.overall_scores)} scores, {n_overall} items"
        offsets = self.category_offsets
        if len(offsets) != len(self.categories) + 1:
            return CATEGORY_OFFSETS, f"{len(offsets)} offsets, {len(self.categories)} categories"
        if int(offsets[0]) != 0 or int(offsets[-1]) != n_entries:
            span = f"{int(offsets[0])}..{int(offsets[-1])}"
            return CATEGORY_OFFSETS, f"span {span}, not the 0..{n_entries} entries"
        if (np.diff(offsets) < 0).any():
            return CATEGORY_OFFSETS, "offsets decrease"
        if len(self.category_scores) != n_entries:
            return CATEGORY_SCORES, f"{len(self.category_scores)} scores, {n_entries} items"
        return None

    @classmethod
    def from_json(cls, path: Path) -> Popular:
        """``popular.json`` (schema 1 and 2) converted; ArtifactError naming it when it is not of
        that shape."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls.build(
                _entries(raw["overall"]),
                {str(c): _entries(e) for c, e in raw["by_category"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ArtifactError(f"{path.name} is not a popular-items file: {exc!r}") from exc

    def to_json(self) -> dict[str, object]:
        """The lists as ``popular.json`` held them (to write a version of an older schema)."""
        overall, by_category = self.to_lists()
        return {
            "overall": [{"item_id": i, "score": s} for i, s in overall],
            "by_category": {
                c: [{"item_id": i, "score": s} for i, s in r] for c, r in by_category.items()
            },
        }


def _entries(entries: list[dict[str, Any]]) -> list[tuple[str, float]]:
    return [(str(e["item_id"]), float(e["score"])) for e in entries]
