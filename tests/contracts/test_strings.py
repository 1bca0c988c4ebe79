"""String tables: ids by row and rows by id on arrays, collisions told apart by the bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts import strings
from contracts.strings import StringTable, StringTableError, table_files

IDS = ["a", "bb", "", "é-1", "123", "a b"]


def test_a_table_gives_each_rows_id_and_each_ids_row() -> None:
    table = StringTable.build(IDS)
    assert len(table) == len(IDS) and list(table) == IDS
    assert [table[r] for r in range(len(IDS))] == IDS and table[-1] == IDS[-1]
    assert table.take([3, 0]) == ["é-1", "a"]
    assert table.rows_of(["123", "nope", "é-1", "a"]).tolist() == [4, -1, 3, 0]
    assert table.row("bb") == 1 and table.row("b") is None


def test_many_rows_are_taken_at_once_ascii_or_not() -> None:
    ids = [f"item-{n}" for n in range(20)] + ["é", "x"]
    table = StringTable.build(ids)
    assert table.take(list(range(20))[::-1]) == ids[:20][::-1]
    assert table.take(list(range(22))) == ids


def test_ids_of_one_hash_are_told_apart_by_their_bytes(monkeypatch) -> None:
    monkeypatch.setattr(strings, "string_hash", lambda data: b"\0" * 8)
    table = StringTable.build(IDS)
    assert table.rows_of(IDS).tolist() == list(range(len(IDS)))
    assert table.rows_of(["zz"]).tolist() == [-1]


def test_a_string_held_twice_is_found_at_both_rows() -> None:
    assert StringTable.build(["x", "y", "x"]).rows_with("x") == [0, 2]


def test_a_written_table_opens_memory_mapped_and_answers_the_same(tmp_path: Path) -> None:
    StringTable.build(IDS).write(tmp_path, "catalog/items")
    table = StringTable.open(tmp_path, "catalog/items")
    assert not table.hashes.flags.owndata and not table.hashes.flags.writeable
    assert list(table) == IDS and table.rows_of(IDS[::-1]).tolist() == list(range(len(IDS)))[::-1]


def test_an_empty_table_opens(tmp_path: Path) -> None:
    StringTable.build([]).write(tmp_path, "t")
    table = StringTable.open(tmp_path, "t")
    assert len(table) == 0 and table.rows_of(["a"]).tolist() == [-1]


def test_a_table_whose_files_disagree_is_refused(tmp_path: Path) -> None:
    StringTable.build(IDS).write(tmp_path, "t")
    (tmp_path / table_files("t")[0]).write_bytes(b"short")
    with pytest.raises(StringTableError, match="offsets span"):
        StringTable.open(tmp_path, "t")


def test_a_span_of_rows_is_read_from_one_slice_ascii_or_not() -> None:
    table = StringTable.build(IDS)
    assert table.span(0, len(IDS)) == IDS and table.span(1, 3) == ["bb", ""]
    assert table.span(4, 6) == ["123", "a b"] and table.span(2, 2) == []
    assert StringTable.build([]).span(0, 0) == []
