"""The synthetic shop: the properties the rest of the system's tests rely on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import pytest

from trainer.synth import COLUMNS, FORMATS, SynthConfig, complement, generate, write_events

CONFIG = SynthConfig()
GAP = 30 * 60  # the trainer's default session cut


@pytest.fixture(scope="module")
def events() -> pa.Table:
    return generate(CONFIG)


@pytest.fixture(scope="module")
def columns(events: pa.Table) -> dict[str, np.ndarray]:
    cols = {name: events[name].to_numpy(zero_copy_only=False) for name in COLUMNS}
    user, ts = cols["user_id"], cols["timestamp"]
    new = np.ones(len(ts), dtype=bool)
    new[1:] = (user[1:] != user[:-1]) | (ts[1:] - ts[:-1] > GAP)
    cols["session"] = np.cumsum(new)
    return cols


def test_same_seed_same_table_and_other_seed_other_table(events: pa.Table) -> None:
    assert generate(CONFIG).equals(events)
    assert not generate(SynthConfig(seed=CONFIG.seed + 1)).equals(events)


def test_schema_has_canonical_columns_and_types(events: pa.Table) -> None:
    assert events.column_names == list(COLUMNS)
    assert events.schema.field("timestamp").type == pa.int64()
    for name in ("user_id", "item_id", "interaction", "category_id"):
        assert events.schema.field(name).type == pa.string()
    assert set(pc.unique(events["interaction"]).to_pylist()) == {
        "view",
        "favorite",
        "cart",
        "purchase",
    }
    assert pc.all(pc.match_substring_regex(events["category_id"], r"^c\d{3}$")).as_py()
    assert pc.all(pc.match_substring_regex(events["item_id"], r"^i\d{6}$")).as_py()


def test_views_are_most_but_not_all_events(columns: dict[str, np.ndarray]) -> None:
    assert 0.8 <= np.mean(columns["interaction"] == "view") <= 0.93


def test_after_a_first_cart_the_journey_moves_to_the_complement(
    columns: dict[str, np.ndarray],
) -> None:
    session, action, category = columns["session"], columns["interaction"], columns["category_id"]
    cart = np.flatnonzero(action[:-1] == "cart")
    first_cart = cart[np.unique(session[cart], return_index=True)[1]]
    followed = first_cart[session[first_cart + 1] == session[first_cart]]
    moved = [complement(category[i]) == category[i + 1] for i in followed]
    assert len(moved) > 500
    assert np.mean(moved) > 0.7


def test_views_before_a_cart_stay_in_the_carted_category(columns: dict[str, np.ndarray]) -> None:
    session, action, category = columns["session"], columns["interaction"], columns["category_id"]
    cart = np.flatnonzero(action == "cart")
    first_cart = cart[np.unique(session[cart], return_index=True)[1]]
    cart_at = np.full(session.max() + 1, -1)
    cart_at[session[first_cart]] = first_cart
    at = cart_at[session]
    before = (at >= 0) & (np.arange(len(session)) < at) & (action == "view")
    assert before.sum() > 2000
    assert np.mean(category[before] == category[at[before]]) > 0.85


def test_timestamps_sorted_per_user_within_the_configured_days(
    columns: dict[str, np.ndarray],
) -> None:
    user, ts = columns["user_id"], columns["timestamp"]
    assert np.all(user[1:] >= user[:-1])
    same_user = user[1:] == user[:-1]
    assert np.all(np.diff(ts)[same_user] > 0)
    start = int(CONFIG.start.timestamp())
    assert ts.min() >= start and ts.max() < start + CONFIG.days * 86400


def test_sessions_are_unambiguous_at_a_thirty_minute_cut(columns: dict[str, np.ndarray]) -> None:
    user, ts = columns["user_id"], columns["timestamp"]
    gaps = np.diff(ts)[user[1:] == user[:-1]]
    assert not np.any((gaps > 25 * 60) & (gaps < 60 * 60))


def test_some_sessions_are_bounces(columns: dict[str, np.ndarray]) -> None:
    sizes = np.bincount(columns["session"])[1:]
    assert 0.05 < np.mean(sizes <= 3) < 0.5


def test_item_popularity_is_skewed(columns: dict[str, np.ndarray]) -> None:
    views = np.unique(columns["item_id"][columns["interaction"] == "view"], return_counts=True)[1]
    top = np.sort(views)[::-1][: len(views) // 10]
    assert top.sum() / views.sum() > 0.3


def test_each_item_has_one_category(events: pa.Table) -> None:
    per_item = events.group_by("item_id").aggregate([("category_id", "count_distinct")])
    assert pc.max(per_item["category_id_count_distinct"]).as_py() == 1


def test_complement_is_an_involution_and_never_the_identity() -> None:
    ids = [f"c{i:03d}" for i in range(CONFIG.categories)]
    assert all(complement(complement(c)) == c and complement(c) != c for c in ids)
    assert complement("c000") == "c001"
    assert complement("c1999") == "c1998"
    with pytest.raises(ValueError, match="category id"):
        complement("shoes")


@pytest.mark.parametrize("suffix", FORMATS)
def test_every_format_reads_back_identically(tmp_path: Path, suffix: str) -> None:
    table = generate(SynthConfig(users=40))
    path = tmp_path / f"events{suffix}"
    write_events(table, path)
    readers = {
        ".csv": pa_csv.read_csv,
        ".csv.gz": pa_csv.read_csv,
        ".parquet": pq.read_table,
        ".jsonl": pa_json.read_json,
    }
    assert readers[suffix](path).equals(table)


def test_jsonl_escapes_quotes_and_backslashes(tmp_path: Path) -> None:
    table = pa.table({"item_id": ['say "hi"', "a\\b"], "timestamp": pa.array([1, 2], pa.int64())})
    write_events(table, tmp_path / "odd.jsonl")
    assert pa_json.read_json(tmp_path / "odd.jsonl").equals(table)


def test_unknown_extension_is_refused(tmp_path: Path, events: pa.Table) -> None:
    with pytest.raises(ValueError, match="extension"):
        write_events(events, tmp_path / "events.xlsx")


def test_odd_category_count_is_refused() -> None:
    with pytest.raises(ValueError, match="even"):
        SynthConfig(categories=51)
