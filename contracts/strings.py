"""A string table on arrays: ids by row and rows by id, without a Python object per string.

A table of ``n`` strings is four files (``{stem}`` is e.g. ``catalog/items``)::

    {stem}.bytes         the UTF-8 bytes of every string, concatenated, row order
    {stem}.offsets.npy   int64 (n + 1,): string r is bytes[offsets[r]:offsets[r + 1]]
    {stem}.hash.npy      uint64 (n,): the 64-bit hash of every string, sorted ascending
    {stem}.order.npy     int64 (n,): the row of each hash (rows of equal hashes ascending)

The hash is BLAKE2b with an 8-byte digest of the UTF-8 bytes, read as a little-endian unsigned
integer (``hashlib.blake2b(data, digest_size=8)``). Looking an id up hashes it, finds the hash
with ``np.searchsorted`` and confirms by comparing the stored bytes; two ids of one hash (odds
about n² / 2⁶⁵) are told apart by that comparison. Every file is memory-mapped read-only, so
all the processes of a host share one copy through the page cache, and opening a table costs
no more than a few checks.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterable, Iterator, Sequence
from hashlib import blake2b
from itertools import pairwise
from pathlib import Path

import numpy as np

SUFFIXES = (".bytes", ".offsets.npy", ".hash.npy", ".order.npy")
"""The files of a table, after its stem."""
_CHUNK = 65_536


class StringTableError(ValueError):
    """A string table's files disagree."""


def string_hash(data: bytes) -> bytes:
    """The 8 bytes of an id's hash (little-endian uint64): BLAKE2b, 8-byte digest."""
    return blake2b(data, digest_size=8).digest()


def mapped(path: Path) -> np.ndarray:
    """A ``.npy`` file memory-mapped read-only, as a plain ndarray (a view of the map: indexing
    it skips ``np.memmap``'s per-call overhead; the map lives as long as the view)."""
    return np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))


def table_files(stem: str) -> tuple[str, ...]:
    """The relative paths of the table ``stem``."""
    return tuple(stem + suffix for suffix in SUFFIXES)


class StringTable:
    """Strings 0..n-1: ``table[r]`` is string r, ``rows_of(ids)`` the row of each id (-1: none)."""

    def __init__(
        self, blob: bytes | mmap.mmap, offsets: np.ndarray, hashes: np.ndarray, order: np.ndarray
    ) -> None:
        self._blob = blob
        self._bytes_array = np.frombuffer(blob, np.uint8) if len(blob) else np.zeros(0, np.uint8)
        self.offsets = offsets
        self.hashes = hashes
        self.order = order

    @classmethod
    def build(cls, strings: Iterable[str]) -> StringTable:
        """A table held in memory (a version written before string tables, or a writer's)."""
        encoded = [s.encode("utf-8") for s in strings]
        offsets = np.zeros(len(encoded) + 1, np.int64)
        np.cumsum(np.fromiter(map(len, encoded), np.int64, len(encoded)), out=offsets[1:])
        digests = np.frombuffer(b"".join(map(string_hash, encoded)), "<u8")
        order = np.argsort(digests, kind="stable").astype(np.int64)
        return cls(b"".join(encoded), offsets, digests[order], order)

    @classmethod
    def open(cls, folder: Path, stem: str) -> StringTable:
        """The table ``stem`` of ``folder``, memory-mapped; StringTableError if it disagrees."""
        blob_path, offsets_path, hash_path, order_path = (
            folder / name for name in table_files(stem)
        )
        size = blob_path.stat().st_size
        blob: bytes | mmap.mmap = b""
        if size:
            with open(blob_path, "rb") as f:
                blob = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        table = cls(blob, mapped(offsets_path), mapped(hash_path), mapped(order_path))
        problem = table.problem(size)
        if problem:
            raise StringTableError(f"{stem}: {problem}")
        return table

    def write(self, folder: Path, stem: str) -> None:
        """Write the table's four files as ``folder/stem.*``."""
        blob_path, offsets_path, hash_path, order_path = (
            folder / name for name in table_files(stem)
        )
        blob_path.parent.mkdir(parents=True, exist_ok=True)
        blob_path.write_bytes(bytes(self._blob))
        np.save(offsets_path, np.asarray(self.offsets, np.int64))
        np.save(hash_path, np.asarray(self.hashes, "<u8"))
        np.save(order_path, np.asarray(self.order, np.int64))

    def problem(self, size: int) -> str | None:
        """What disagrees among the arrays (``size``: the blob's bytes), None when nothing."""
        n = len(self.offsets) - 1
        if self.offsets.ndim != 1 or n < 0:
            return "offsets are not a vector of n + 1"
        if self.hashes.shape != (n,) or self.order.shape != (n,):
            return f"{n} strings but {len(self.hashes)} hashes and {len(self.order)} rows"
        if int(self.offsets[0]) != 0 or int(self.offsets[-1]) != size:
            return f"offsets span {int(self.offsets[0])}..{int(self.offsets[-1])}, bytes {size}"
        if n and (np.diff(self.offsets) < 0).any():
            return "offsets decrease"
        if n and bool((self.hashes[1:] < self.hashes[:-1]).any()):
            return "hashes are not sorted"
        if n and (int(self.order.min()) < 0 or int(self.order.max()) >= n):
            return "rows outside the table"
        return None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, row: int) -> str:
        n = len(self)
        row = int(row)
        if row < 0:
            row += n
        if not 0 <= row < n:
            raise IndexError(f"row {row} outside a table of {n}")
        return self._blob[int(self.offsets[row]) : int(self.offsets[row + 1])].decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self), _CHUNK):
            yield from self.take(np.arange(start, min(start + _CHUNK, len(self))))

    def take(self, rows: np.ndarray | Sequence[int]) -> list[str]:
        """The strings of ``rows`` (in range), in order."""
        rows = np.asarray(rows, np.int64)
        starts, ends = self.offsets[rows], self.offsets[rows + 1]
        if len(rows) > 8:  # one gather and one decode; sliced as text when it is ASCII
            lengths = ends - starts
            bounds = np.zeros(len(rows) + 1, np.int64)
            np.cumsum(lengths, out=bounds[1:])
            at = np.arange(bounds[-1]) + np.repeat(starts - bounds[:-1], lengths)
            text = self._bytes_array[at].tobytes().decode("utf-8")
            if text.isascii():
                cuts = bounds.tolist()
                return [text[a:b] for a, b in pairwise(cuts)]
        blob = self._blob
        pairs = zip(starts.tolist(), ends.tolist(), strict=True)
        return [blob[a:b].decode("utf-8") for a, b in pairs]

    def span(self, start: int, stop: int) -> list[str]:
        """The strings of rows ``start`` to ``stop - 1`` (in range), from one slice of the
        bytes: the cheapest read of consecutive rows (a popular list is a run of them)."""
        bounds = self.offsets[start : stop + 1].tolist()
        if len(bounds) < 2:
            return []
        first = bounds[0]
        text = self._blob[first : bounds[-1]].decode("utf-8")
        if text.isascii():
            return [text[a - first : b - first] for a, b in pairwise(bounds)]
        blob = self._blob
        return [blob[a:b].decode("utf-8") for a, b in pairwise(bounds)]

    def rows_of(self, keys: Sequence[str]) -> np.ndarray:
        """int64: the row of each key, -1 for a key the table does not hold."""
        found = np.full(len(keys), -1, np.int64)
        n = len(self.hashes)
        if not len(keys) or not n:
            return found
        encoded = [k.encode("utf-8", "surrogatepass") for k in keys]
        digests = np.frombuffer(b"".join(map(string_hash, encoded)), "<u8")
        positions = np.searchsorted(self.hashes, digests)
        at = np.minimum(positions, n - 1)
        hits = np.flatnonzero((positions < n) & (self.hashes[at] == digests))
        rows = self.order[at[hits]]
        starts, ends = self.offsets[rows].tolist(), self.offsets[rows + 1].tolist()
        blob = self._blob
        for i, row, a, b in zip(hits.tolist(), rows.tolist(), starts, ends, strict=True):
            if blob[a:b] == encoded[i]:
                found[i] = row
            else:  # another id of the same hash: look at the next ones
                found[i] = self._confirm(int(positions[i]) + 1, int(digests[i]), encoded[i])
        return found

    def row(self, key: str) -> int | None:
        """The row of ``key``, None when the table does not hold it."""
        row = int(self.rows_of([key])[0])
        return None if row < 0 else row

    def rows_with(self, key: str) -> list[int]:
        """Every row holding ``key`` (a table may hold one string twice: entities of two kinds)."""
        n = len(self.hashes)
        data = key.encode("utf-8", "surrogatepass")
        digest = int(np.frombuffer(string_hash(data), "<u8")[0])
        position = int(np.searchsorted(self.hashes, np.uint64(digest)))
        rows = []
        while position < n and int(self.hashes[position]) == digest:
            row = int(self.order[position])
            if self._bytes(row) == data:
                rows.append(row)
            position += 1
        return rows

    def _confirm(self, position: int, digest: int, data: bytes) -> int:
        """The first row from ``position`` on whose hash is ``digest`` and bytes ``data``."""
        n = len(self.hashes)
        while position < n and int(self.hashes[position]) == digest:
            row = int(self.order[position])
            if self._bytes(row) == data:
                return row
            position += 1
        return -1

    def _bytes(self, row: int) -> bytes:
        return self._blob[int(self.offsets[row]) : int(self.offsets[row + 1])]
