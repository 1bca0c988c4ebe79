"""The synthetic shop: the properties the rest of the system's tests rely on."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import pytest

from trainer.synth import (
    COLUMNS,
    FORMATS,
    SynthConfig,
    complement,
    generate,
    item_styles,
    write_events,
)

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


# The blog extensions: impressions (implicit negatives), shops and search queries.

SMALL = SynthConfig(users=300)
KNOBS = SynthConfig(users=300, listing_size=8, shops=60, search_rate=0.3)


@pytest.fixture(scope="module")
def extended() -> pa.Table:
    return generate(KNOBS)


def _sessions(table: pa.Table) -> np.ndarray:
    user = table["user_id"].to_numpy(zero_copy_only=False)
    ts = table["timestamp"].to_numpy()
    new = np.ones(len(ts), dtype=bool)
    new[1:] = (user[1:] != user[:-1]) | (ts[1:] - ts[:-1] > GAP)
    return np.cumsum(new)


def _strings(table: pa.Table, name: str) -> np.ndarray:
    return np.array(table[name].to_pylist(), dtype=object)


def test_knobs_off_add_no_columns() -> None:
    table = generate(SMALL)
    assert table.column_names == list(COLUMNS)
    # style_fidelity only shapes listings: without them it changes nothing.
    assert generate(SynthConfig(users=300, style_fidelity=0.2)).equals(table)


def test_extension_columns_follow_the_base_ones_in_order(extended: pa.Table) -> None:
    assert extended.column_names == [*COLUMNS, "shop_id", "query", "impressions"]
    for name in ("shop_id", "query", "impressions"):
        assert extended.schema.field(name).type == pa.string()
    assert generate(SynthConfig(users=40, search_rate=0.5)).column_names == [*COLUMNS, "query"]


def test_knobs_leave_the_base_draws_alone(extended: pa.Table) -> None:
    base = generate(SMALL)
    assert generate(SynthConfig(users=300, shops=60)).select(list(COLUMNS)).equals(base)
    for name in ("user_id", "interaction", "timestamp"):
        assert extended[name].equals(base[name])
    # A search only re-draws a first view that had strayed (and what copies it: cart, purchase).
    searched = generate(SynthConfig(users=300, search_rate=0.3))
    item, session = _strings(searched, "item_id"), _sessions(searched)
    has_query = np.flatnonzero(_strings(searched, "query") != None)  # noqa: E711
    query_item = {session[r]: item[r] for r in has_query}
    moved = np.flatnonzero(item != _strings(base, "item_id"))
    assert 0 < len(moved) < 100
    assert all(query_item.get(session[r]) == item[r] for r in moved)


def test_same_seed_same_table_with_the_knobs_on(extended: pa.Table) -> None:
    assert generate(KNOBS).equals(extended)
    other = generate(dataclasses.replace(KNOBS, seed=KNOBS.seed + 1))
    assert not other.equals(extended)


def test_impressions_only_on_views_of_the_clicked_category(extended: pa.Table) -> None:
    action = _strings(extended, "interaction")
    item, category = _strings(extended, "item_id"), _strings(extended, "category_id")
    impressions = _strings(extended, "impressions")
    has = impressions != None  # noqa: E711 (element-wise)
    assert np.all(action[has] == "view")
    # Listings of 0..7 items above the click, noise views have none: most views have some.
    assert 0.7 < has[action == "view"].mean() < 0.9
    category_of = dict(zip(item, category, strict=True))
    lengths = []
    for row in np.flatnonzero(has):
        shown = impressions[row].split("|")
        lengths.append(len(shown))
        assert 1 <= len(shown) <= KNOBS.listing_size - 1
        assert len(set(shown)) == len(shown)
        assert item[row] not in shown
        assert all(category_of.get(i, category[row]) == category[row] for i in shown)
    assert pc.all(pc.match_substring_regex(extended["impressions"], r"^i\d{6}(\|i\d{6})*$")).as_py()
    assert 3 < np.mean(lengths) < 5  # uniform in 1..7 among the non-empty ones


def test_impressions_are_of_the_style_the_session_skips(extended: pa.Table) -> None:
    style = item_styles(KNOBS)
    assert set(style.values()) == {0, 1}
    session, action = _sessions(extended), _strings(extended, "interaction")
    item, category = _strings(extended, "item_id"), _strings(extended, "category_id")
    impressions = _strings(extended, "impressions")
    clicked = np.array([style[i] for i in item])
    differ, mixed = [], 0
    for row in np.flatnonzero(impressions != None):  # noqa: E711
        shown = {style[i] for i in impressions[row].split("|")}
        mixed += len(shown) > 1
        differ.append(clicked[row] not in shown)
    assert mixed == 0  # a listing's skipped items are all of the one style the leg skips
    assert np.mean(differ) > 0.85  # style_fidelity 0.9: clicks keep to the other style
    # Consecutive clicks of one leg (same session and category) mostly share a style ...
    view = action == "view"
    same_leg = (
        view[1:] & view[:-1] & (session[1:] == session[:-1]) & (category[1:] == category[:-1])
    )
    assert same_leg.sum() > 500
    assert np.mean(clicked[1:][same_leg] == clicked[:-1][same_leg]) > 0.8
    # ... which they do not without listings.
    plain = generate(SMALL)
    p_item, p_category = _strings(plain, "item_id"), _strings(plain, "category_id")
    p_view, p_session = _strings(plain, "interaction") == "view", _sessions(plain)
    p_leg = (
        p_view[1:]
        & p_view[:-1]
        & (p_session[1:] == p_session[:-1])
        & (p_category[1:] == p_category[:-1])
    )
    p_style = np.array([style[i] for i in p_item])
    assert np.mean(p_style[1:][p_leg] == p_style[:-1][p_leg]) < 0.65


def test_every_item_has_one_shop_selling_in_one_category_pair(extended: pa.Table) -> None:
    assert extended["shop_id"].null_count == 0
    assert pc.all(pc.match_substring_regex(extended["shop_id"], r"^s\d{4}$")).as_py()
    per_item = extended.group_by("item_id").aggregate([("shop_id", "count_distinct")])
    assert pc.max(per_item["shop_id_count_distinct"]).as_py() == 1
    pairs: dict[str, set[str]] = {}
    for shop, category in zip(
        _strings(extended, "shop_id"), _strings(extended, "category_id"), strict=True
    ):
        pairs.setdefault(shop, set()).add(min(category, complement(category)))
    assert all(len(p) == 1 for p in pairs.values())
    assert len(pairs) == KNOBS.shops  # popular and rare items are spread over every shop


def test_fewer_shops_than_category_pairs_still_cover_every_item() -> None:
    table = generate(SynthConfig(users=100, shops=3))
    assert table["shop_id"].null_count == 0
    assert set(pc.unique(table["shop_id"]).to_pylist()) == {"s0000", "s0001", "s0002"}


def test_searches_start_the_configured_share_of_sessions(extended: pa.Table) -> None:
    session, query = _sessions(extended), _strings(extended, "query")
    category = _strings(extended, "category_id")
    has = query != None  # noqa: E711
    first = np.ones(len(session), dtype=bool)
    first[1:] = session[1:] != session[:-1]
    assert np.all(first[has])  # at most one query per session, on its first row
    assert np.all(_strings(extended, "interaction")[has] == "view")
    sizes = np.bincount(session)
    long = first & (sizes[session] > 3)  # surely not bounces: those have 1-3 views
    assert long.sum() > 500
    assert abs(has[long].mean() - KNOBS.search_rate) < 0.06
    for text, cat in zip(query[has], category[has], strict=True):
        assert re.fullmatch(r"[a-z0-9]+( [a-z0-9]+)*", text)
        assert cat in text.split()  # the query names the category of its first result
    assert len(set(query[has])) > KNOBS.categories  # several phrasings per category


@pytest.mark.parametrize("suffix", FORMATS)
def test_extension_columns_read_back_with_their_nulls(
    tmp_path: Path, suffix: str, extended: pa.Table
) -> None:
    path = tmp_path / f"events{suffix}"
    write_events(extended, path)
    if suffix.startswith(".csv"):
        options = pa_csv.ConvertOptions(strings_can_be_null=True)
        back = pa_csv.read_csv(path, convert_options=options)
    else:
        back = {".parquet": pq.read_table, ".jsonl": pa_json.read_json}[suffix](path)
    assert back.equals(extended)
    assert back["query"].null_count == extended["query"].null_count > 0


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"listing_size": -1}, "listing_size"),
        ({"listing_size": 101}, "listing_size"),
        ({"listing_size": 3, "items": 60, "categories": 50}, "two items per category"),
        ({"style_fidelity": 1.5}, "style_fidelity"),
        ({"shops": 5001}, "shops"),
        ({"search_rate": 1.2}, "search_rate"),
    ],
)
def test_bad_extension_knobs_are_refused(knobs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SynthConfig(**knobs)  # type: ignore[arg-type]


def test_cli_synth_writes_the_extension_columns(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from trainer.cli import main

    out = tmp_path / "events.csv"
    flags = ["--listing-size", "8", "--shops", "60", "--search-rate", "0.3"]
    result = CliRunner().invoke(main, ["synth", "--out", str(out), "--users", "300", *flags])
    assert result.exit_code == 0, result.output
    options = pa_csv.ConvertOptions(strings_can_be_null=True)
    assert pa_csv.read_csv(out, convert_options=options).equals(generate(KNOBS))
    bad = CliRunner().invoke(main, ["synth", "--out", str(out), "--shops", "9999"])
    assert bad.exit_code == 2 and "shops" in bad.output
