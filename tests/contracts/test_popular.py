"""The popular lists on arrays: one definition, written and read back unchanged, memory-mapped,
refused naming the file that disagrees; ``popular.json`` of older versions still read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from contracts import popular as layout
from contracts.artifacts import ArtifactError
from contracts.popular import Popular
from contracts.strings import StringTable

OVERALL = [("a", 5.0), ("b", 1.5), ("é", 0.125)]
BY_CATEGORY = {"c1": [("a", 5.0), ("x", 3.1)], "c2": [], "c3": [("b", 1.5)]}


def written(tmp_path: Path) -> Path:
    folder = tmp_path / "popular"
    Popular.build(OVERALL, BY_CATEGORY).write(folder)
    return folder


def test_the_lists_round_trip_through_memory_mapped_files(tmp_path):
    popular = Popular.build(OVERALL, BY_CATEGORY)
    folder = written(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == sorted(layout.FILES)
    opened = Popular.open(folder)
    assert opened == popular and opened.to_lists() == (OVERALL, BY_CATEGORY)
    assert isinstance(opened.category_scores.base, np.memmap)
    assert not opened.overall_scores.flags.writeable
    assert list(opened.category_items) == ["a", "x", "b"]  # the entries, list after list


def test_a_list_is_a_view_read_by_position(tmp_path):
    popular = Popular.open(written(tmp_path))
    c1 = popular.of_category("c1")
    assert c1 is not None and len(c1) == 2
    assert (c1.item(1), c1.score(1)) == ("x", 3.1)  # float64: the JSON number exactly
    assert list(c1) == BY_CATEGORY["c1"] and c1.head(1) == [("a", 5.0)]
    empty = popular.of_category("c2")
    assert empty is not None and not empty and list(empty) == []
    assert popular.of_category("c9") is None
    assert list(popular.overall) == OVERALL and popular.overall.head(2) == OVERALL[:2]
    assert [c for c, _ in popular.lists()] == list(popular.categories) == ["c1", "c2", "c3"]


def test_a_long_list_iterates_in_chunks_in_order():
    ranked = [(f"i{n}", float(100 - n)) for n in range(100)]
    popular = Popular.build(ranked, {"c": ranked[::-1]})
    assert list(popular.overall) == ranked
    assert list(popular.of_category("c") or ()) == ranked[::-1]


def test_decoded_runs_are_reused_bounded_and_never_handed_out_to_change(monkeypatch):
    monkeypatch.setattr(layout, "DECODED_ENTRIES", 40)
    ranked = [(f"i{n}", float(100 - n)) for n in range(100)]
    popular = Popular.build(ranked, {"c": ranked[::-1]})
    first = popular.overall.between(0, 16)
    assert popular.overall.between(0, 16) is first and first == ranked[:16]  # reused
    head = popular.overall.head(16)
    head.append(("mine", 0.0))  # a head is the caller's own list
    assert popular.overall.between(0, 16) == ranked[:16]
    assert popular.of_category("c").between(16, 32) == ranked[::-1][16:32]  # its own runs
    popular.overall.between(16, 48)  # past the bound: the runs so far are let go
    assert popular.overall.between(0, 16) is not first
    assert popular.overall.between(0, 16) == ranked[:16]


def test_no_lists_at_all_round_trip(tmp_path):
    Popular.build([], {}).write(tmp_path / "popular")
    assert Popular.open(tmp_path / "popular").to_lists() == ([], {})


def test_lists_given_as_codes_name_the_ids_of_their_codes():
    ids = np.array(["u", "v", "w", "z"], dtype=object)
    popular = Popular.from_codes(
        ids, np.array([3, 1]), np.array([2.0, 1.0]), ["k", "l"], np.array([0, 1, 1]),
        np.array([3]), np.array([2.0]),
    )  # fmt: skip
    assert popular.to_lists() == ([("z", 2.0), ("v", 1.0)], {"k": [("z", 2.0)], "l": []})


def test_popular_json_of_older_versions_reads_as_the_same_lists(tmp_path):
    path = tmp_path / "popular.json"
    path.write_text(json.dumps(Popular.build(OVERALL, BY_CATEGORY).to_json()))
    assert Popular.from_json(path).to_lists() == (OVERALL, BY_CATEGORY)


@pytest.mark.parametrize("text", ["[]", '{"overall": [{"item": "a"}], "by_category": {}}', "{"])
def test_a_json_file_of_another_shape_is_refused_naming_it(tmp_path, text):
    (tmp_path / "popular.json").write_text(text)
    with pytest.raises(ArtifactError, match=r"popular\.json"):
        Popular.from_json(tmp_path / "popular.json")


def save(folder: Path, name: str, array: np.ndarray) -> None:
    np.save(folder / name, array)


def offsets_decrease(folder: Path) -> None:
    save(folder, layout.CATEGORY_OFFSETS, np.array([0, 2, 1, 3], np.int64))


def offsets_end_short(folder: Path) -> None:
    save(folder, layout.CATEGORY_OFFSETS, np.array([0, 1, 1, 2], np.int64))


def offsets_of_another_count(folder: Path) -> None:
    save(folder, layout.CATEGORY_OFFSETS, np.array([0, 3], np.int64))


def entries_short_of_the_offsets(folder: Path) -> None:
    StringTable.build(["a", "x"]).write(folder, layout.CATEGORY_ITEMS)


def overall_scores_short(folder: Path) -> None:
    save(folder, layout.OVERALL_SCORES, np.array([5.0, 1.5], np.float64))


def scores_of_another_dtype(folder: Path) -> None:
    save(folder, layout.OVERALL_SCORES, np.array([5.0, 1.5, 0.125], np.float32))


def offsets_as_a_matrix(folder: Path) -> None:
    save(folder, layout.CATEGORY_OFFSETS, np.zeros((4, 1), np.int64))


def scores_short_of_items(folder: Path) -> None:
    save(folder, layout.CATEGORY_SCORES, np.array([5.0, 3.1], np.float64))


def not_an_array(folder: Path) -> None:
    (folder / layout.CATEGORY_OFFSETS).write_bytes(b"not numpy")


def a_file_missing(folder: Path) -> None:
    (folder / layout.CATEGORY_SCORES).unlink()


def an_id_table_of_another_length(folder: Path) -> None:
    save(folder, f"{layout.CATEGORY_ITEMS}.order.npy", np.array([0], np.int64))


def an_id_table_without_its_bytes(folder: Path) -> None:
    (folder / f"{layout.OVERALL}.bytes").unlink()


@pytest.mark.parametrize(
    "damage, name, message",
    [
        (offsets_decrease, layout.CATEGORY_OFFSETS, "offsets decrease"),
        (offsets_end_short, layout.CATEGORY_OFFSETS, r"span 0\.\.2, not the 0\.\.3 entries"),
        (offsets_of_another_count, layout.CATEGORY_OFFSETS, "2 offsets, 3 categories"),
        (entries_short_of_the_offsets, layout.CATEGORY_OFFSETS, r"not the 0\.\.2 entries"),
        (overall_scores_short, layout.OVERALL_SCORES, "2 scores, 3 items"),
        (scores_of_another_dtype, layout.OVERALL_SCORES, r"float32 \(3,\), not float64 \(n,\)"),
        (offsets_as_a_matrix, layout.CATEGORY_OFFSETS, r"int64 \(4, 1\), not int64 \(n,\)"),
        (scores_short_of_items, layout.CATEGORY_SCORES, "2 scores, 3 items"),
        (not_an_array, layout.CATEGORY_OFFSETS, "unreadable"),
        (a_file_missing, layout.CATEGORY_SCORES, "unreadable"),
        (an_id_table_of_another_length, layout.CATEGORY_ITEMS, "3 strings but 3 hashes and 1"),
        (an_id_table_without_its_bytes, layout.OVERALL, "unreadable"),
    ],
)
def test_files_that_disagree_are_refused_naming_the_file(tmp_path, damage, name, message):
    folder = written(tmp_path)
    damage(folder)
    with pytest.raises(ArtifactError, match=message) as refused:
        Popular.open(folder)
    assert str(refused.value).startswith(f"popular/{name}")
