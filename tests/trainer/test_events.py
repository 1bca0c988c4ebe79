"""The event-log loader: formats, validation, line numbers, adapters — on small real files."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contracts.interactions import Interaction
from trainer import events
from trainer.config import DataConfig
from trainer.events import BadRowsError, EventLog, EventLogError, load_events

T0 = 1511600000  # 2017-11-25T08:53:20Z
HEADER = "user_id,item_id,interaction,timestamp,category_id"
EVENTS = [
    ("007", "0042", "view", T0, "c1"),
    ("007", "0043", "cart", T0 + 60, "c1"),
    ("8", "0042", "purchase", T0 + 120, None),
    ("007", "0042", "favorite", T0 + 180, "c2"),
]


def write(path: Path, text: str) -> Path:
    """`text` into `path`, gzipped when the name ends in .gz."""
    data = text.encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def csv_text(rows: list[tuple[object, ...]], header: str = HEADER) -> str:
    lines = [header] if header else []
    lines += [",".join("" if v is None else str(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def load(path: Path, **data: object) -> EventLog:
    return load_events(path, DataConfig.model_validate(data), progress=False)


def decoded(log: EventLog) -> list[tuple[object, ...]]:
    """The log's events as (user, item, interaction, timestamp, category) with original ids."""
    return [
        (
            log.user_ids[u],
            log.item_ids[i],
            Interaction(k).label,
            int(t),
            None if c < 0 else log.category_ids[c],
        )
        for u, i, k, t, c in zip(
            log.user, log.item, log.interaction, log.timestamp, log.category, strict=True
        )
    ]


def bad_lines(log: EventLog) -> list[tuple[int, str]]:
    return [(line, reason) for line, reason, _ in log.report.bad.examples]


@pytest.mark.parametrize(
    "name", ["events.csv", "events.csv.gz", "events.jsonl", "events.ndjson.gz"]
)
def test_text_formats_round_trip_the_events(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if ".csv" in name:
        write(path, csv_text(EVENTS))
    else:
        keys = HEADER.split(",")
        write(path, "".join(json.dumps(dict(zip(keys, row, strict=True))) + "\n" for row in EVENTS))
    log = load(path)
    assert decoded(log) == EVENTS
    assert log.user.dtype == np.int32 and log.interaction.dtype == np.int8
    assert log.timestamp.dtype == np.int64 and log.session is None


def test_parquet_round_trips_the_events_with_typed_columns(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    users, items, interactions, stamps, categories = zip(*EVENTS, strict=True)
    table = {
        "user_id": pa.array(users),
        "item_id": pa.array(items),
        "interaction": pa.array(interactions).dictionary_encode(),
        "timestamp": pa.array([t * 1000 for t in stamps], pa.timestamp("ms", tz="UTC")),
        "category_id": pa.array(categories),
    }
    pq.write_table(pa.table(table), path)
    assert decoded(load(path)) == EVENTS


def test_integer_ids_in_json_become_strings(tmp_path: Path) -> None:
    path = write(
        tmp_path / "e.jsonl",
        json.dumps({"user_id": 7, "item_id": 42, "interaction": "view", "timestamp": T0}) + "\n",
    )
    log = load(path)
    assert list(log.user_ids) == ["7"] and list(log.item_ids) == ["42"]


def test_iso_and_unix_timestamps_agree(tmp_path: Path) -> None:
    stamps = [
        "1511600000",
        "1511600000.75",
        "2017-11-25T08:53:20Z",
        "2017-11-25 16:53:20+08:00",
        "2017-11-25 08:53:20",
        "2017-11-25T08:53:20.5+0000",
        "2017-11-25 08:53:20 UTC",
    ]
    path = write(tmp_path / "e.csv", csv_text([("u", "i", "view", s, "c") for s in stamps]))
    log = load(path)
    assert log.timestamp.tolist() == [T0] * len(stamps)


def test_ids_with_leading_zeros_stay_strings(tmp_path: Path) -> None:
    log = load(write(tmp_path / "e.csv", csv_text(EVENTS)))
    assert list(log.user_ids) == ["007", "8"]
    assert list(log.item_ids) == ["0042", "0043"]


def test_every_bad_row_reason_is_counted_with_its_line(tmp_path: Path) -> None:
    text = "\n".join(
        [
            HEADER,  # line 1
            f"u1,i1,view,{T0},c",  # 2: good
            f",i1,view,{T0},c",  # 3: missing user_id
            "",  # 4: blank, not a row
            f"u1,i1,remove,{T0},c",  # 5: unknown interaction
            "u1,i1,view,yesterday,c",  # 6: unparsable timestamp
            "u1,i1,view",  # 7: short line
            f"u1, ,view,{T0},c",  # 8: blank item_id
            f"u2,i2,cart,{T0},",  # 9: good, no category
        ]
    )
    log = load(write(tmp_path / "e.csv", text + "\n"))
    assert log.report.bad.counts == {
        "missing user_id": 1,
        "unknown interaction 'remove'": 1,
        "unparsable timestamp": 1,
        "wrong number of fields (expected 5)": 1,
        "missing item_id": 1,
    }
    assert bad_lines(log) == [
        (3, "missing user_id"),
        (5, "unknown interaction 'remove'"),
        (6, "unparsable timestamp"),
        (7, "wrong number of fields (expected 5)"),
        (8, "missing item_id"),
    ]
    assert log.report.bad.examples[3][2] == "u1,i1,view"
    assert (log.report.rows_read, log.report.rows_kept) == (7, 2)


def test_line_numbers_hold_across_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "_CSV_BLOCK", 1 << 10)
    rows = [f"u{i},i{i},view,{T0 + i},c" for i in range(3000)]
    rows[999] = "u,i,view"  # line 1001
    rows[2499] = f"u,i,nope,{T0},c"  # line 2501
    log = load(write(tmp_path / "e.csv", "\n".join([HEADER, *rows]) + "\n"))
    assert bad_lines(log) == [
        (1001, "wrong number of fields (expected 5)"),
        (2501, "unknown interaction 'nope'"),
    ]


def test_headerless_line_numbers_start_at_the_first_row(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", f"1,2,3,pv,{T0}\n1,2,3,pv\n1,2,3,eat,{T0}\n")
    assert bad_lines(load(path, adapter="taobao")) == [
        (2, "wrong number of fields (expected 5)"),
        (3, "unknown interaction 'eat'"),
    ]


def test_jsonl_bad_lines_are_numbered_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "_JSONL_CHUNK", 256)
    good = json.dumps({"user_id": "u", "item_id": "i", "interaction": "view", "timestamp": T0})
    lines = [good] * 40
    lines[4] = ""  # line 5: blank
    lines[9] = "{not json"  # line 10
    lines[29] = json.dumps({"user_id": "u", "interaction": "view", "timestamp": T0})  # line 30
    log = load(write(tmp_path / "e.jsonl", "\n".join(lines) + "\n"))
    assert bad_lines(log) == [(10, "not a JSON object"), (30, "missing item_id")]
    assert len(log) == 37


def test_parquet_bad_rows_are_numbered_by_row(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    pq.write_table(
        pa.table(
            {
                "user_id": ["u", None],
                "item_id": ["i", "i"],
                "interaction": ["view", "view"],
                "timestamp": [T0, T0],
            }
        ),
        path,
    )
    report = load(path).report
    assert report.bad.examples == [
        (
            2,
            "missing user_id",
            "user_id=None, item_id='i', interaction='view', timestamp=1511600000",
        )
    ]
    assert report.numbering == "row" and "row 2: missing user_id" in report.summary()


def test_fail_mode_reads_everything_then_names_reasons_and_lines(tmp_path: Path) -> None:
    text = csv_text(
        [("u", "i", "view", T0, "c"), ("", "i", "view", T0, "c"), ("u", "i", "jump", T0, "c")]
    )
    with pytest.raises(BadRowsError) as caught:
        load(write(tmp_path / "e.csv", text), on_bad_rows="fail")
    message = str(caught.value)
    assert "missing user_id" in message and "unknown interaction 'jump'" in message
    assert "line 3: missing user_id" in message and "line 4: unknown interaction 'jump'" in message
    assert caught.value.report.rows_read == 3


def test_skip_mode_keeps_the_good_rows(tmp_path: Path) -> None:
    rows = [EVENTS[0], ("", "i", "view", T0, "c"), EVENTS[1], ("u", "i", "view", "soon", "c")]
    log = load(write(tmp_path / "e.csv", csv_text(rows)))
    assert decoded(log) == EVENTS[:2]
    assert log.report.bad.total == 2


def test_since_and_until_drop_rows_outside_the_window(tmp_path: Path) -> None:
    log = load(
        write(tmp_path / "e.csv", csv_text(EVENTS)),
        since=datetime.fromtimestamp(T0 + 60, UTC).astimezone(timezone(timedelta(hours=8))),
        until=datetime.fromtimestamp(T0 + 180, UTC).replace(tzinfo=None),
    )
    assert decoded(log) == EVENTS[1:3]
    assert log.report.out_of_window == 2 and log.report.bad.total == 0


def test_the_seasonal_window_adds_the_same_weeks_of_the_year_before(tmp_path: Path) -> None:
    day, year = 86400, 365 * 86400  # 2016-11-25 → 2017-11-25: no 29 February in between
    rows = [
        ("u", "i1", "view", T0 - year - day, "c"),  # a day before last year's window
        ("u", "i2", "view", T0 - year + 60, "c"),  # in last year's window
        ("u", "i3", "view", T0 - year + 15 * day, "c"),  # after it, within the 10 extra days
        ("u", "i4", "view", T0 - year + 18 * day, "c"),  # past the extra days
        ("u", "i5", "view", T0 + 60, "c"),  # in this year's window
        ("u", "i6", "view", T0 + 8 * day, "c"),  # after this year's window: out
    ]
    window = {
        "since": datetime.fromtimestamp(T0, UTC),
        "until": datetime.fromtimestamp(T0 + 7 * day, UTC),
    }
    path = write(tmp_path / "e.csv", csv_text(rows))
    log = load(path, **window, previous_year_days=10)
    assert [e[1] for e in decoded(log)] == ["i2", "i3", "i5"]
    assert log.report.out_of_window == 3
    assert [e[1] for e in decoded(load(path, **window))] == ["i5"]
    with pytest.raises(ValueError, match="needs since and until"):
        DataConfig(previous_year_days=10, since=window["since"])


def test_taobao_reads_the_original_headerless_file_and_a_copy_with_header(tmp_path: Path) -> None:
    rows = [("1", "2268318", "2520377", "pv", T0), ("1", "2333346", "2520771", "buy", T0 + 5)]
    plain = write(tmp_path / "UserBehavior.csv", csv_text(rows, header=""))
    headed = write(
        tmp_path / "sample.csv.gz",
        csv_text(rows, "user_id,item_id,category_id,behavior_type,timestamp"),
    )
    for log in (load(plain, adapter="taobao"), load(headed, adapter="taobao")):
        assert decoded(log) == [
            ("1", "2268318", "view", T0, "2520377"),
            ("1", "2333346", "purchase", T0 + 5, "2520771"),
        ]
        assert log.report.bad.total == 0


def test_rees46_ignores_remove_from_cart_and_keeps_sessions(tmp_path: Path) -> None:
    header = (
        "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,"
        "user_session"
    )
    rows = [
        (
            "2019-10-01 00:00:00 UTC",
            "view",
            "44600062",
            "2103807459595387724",
            "",
            "shiseido",
            "35.79",
            "541312140",
            "72d76fde",
        ),
        (
            "2019-10-01 00:00:05 UTC",
            "remove_from_cart",
            "44600062",
            "2103807459595387724",
            "",
            "",
            "35.79",
            "541312140",
            "72d76fde",
        ),
        (
            "2019-10-01 00:00:09 UTC",
            "cart",
            "3900821",
            "2053013552326770905",
            "appliances.water_heater",
            "aqua",
            "33.20",
            "554748717",
            "9333dfbd",
        ),
    ]
    log = load(write(tmp_path / "2019-Oct.csv", csv_text(rows, header)), adapter="rees46")
    t = 1569888000  # 2019-10-01T00:00:00Z
    assert decoded(log) == [
        ("541312140", "44600062", "view", t, "2103807459595387724"),
        ("554748717", "3900821", "cart", t + 9, "2053013552326770905"),
    ]
    assert log.report.ignored == {"remove_from_cart": 1} and log.report.bad.total == 0
    assert log.session is not None and log.session.tolist() == [0, 1]


def test_retailrocket_timestamps_are_milliseconds(tmp_path: Path) -> None:
    rows = [
        ("1433221332117", "257597", "view", "355908", ""),
        ("1433224214164", "992329", "addtocart", "248676", ""),
        ("1433221955914", "599528", "transaction", "356475", "4000"),
    ]
    log = load(
        write(
            tmp_path / "events.csv",
            csv_text(rows, "timestamp,visitorid,event,itemid,transactionid"),
        ),
        adapter="retailrocket",
    )
    assert decoded(log) == [
        ("257597", "355908", "view", 1433221332, None),
        ("992329", "248676", "cart", 1433224214, None),
        ("599528", "356475", "purchase", 1433221955, None),
    ]


def test_tmall_reads_seller_as_shop_and_day_only_stamps_as_midnight_utc(tmp_path: Path) -> None:
    header = "user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type"
    rows = [
        ("328862", "323294", "833", "2882", "2661", "0829", "0"),
        ("328862", "844400", "1271", "2882", "2661", "1111", "2"),
        ("234512", "575153", "1271", "2882", "", "0230", "1"),  # no 30 February
        ("234512", "575153", "1271", "4605", "", "1111", "3"),
    ]
    log = load(write(tmp_path / "user_log_format1.csv", csv_text(rows, header)), adapter="tmall")
    nov11 = 1447200000  # 2015-11-11T00:00:00Z
    assert decoded(log) == [
        ("328862", "323294", "view", nov11 - 74 * 86400, "833"),
        ("328862", "844400", "purchase", nov11, "1271"),
        ("234512", "575153", "favorite", nov11, "1271"),
    ]
    assert log.report.bad.counts == {"unparsable timestamp": 1}
    assert log.shop is not None and [log.shop_ids[c] for c in log.shop] == ["2882", "2882", "4605"]


def test_config_interaction_map_adds_names_case_insensitively(tmp_path: Path) -> None:
    rows = [("u", "i", " Click ", T0, "c"), ("u", "i", "BUY", T0, "c"), ("u", "i", "View", T0, "c")]
    log = load(
        write(tmp_path / "e.csv", csv_text(rows)),
        interaction_map={"click": "view", "buy": "purchase"},
    )
    assert [Interaction(k).label for k in log.interaction] == ["view", "purchase", "view"]


def test_missing_columns_error_lists_expected_and_found(tmp_path: Path) -> None:
    with pytest.raises(
        EventLogError,
        match=r"missing column\(s\) interaction.*found 'user_id', 'item_id', 'action', 'timestamp'",
    ):
        load(write(tmp_path / "e.csv", "user_id,item_id,action,timestamp\nu,i,view,1\n"))


def test_missing_file_and_unknown_extension_are_errors(tmp_path: Path) -> None:
    with pytest.raises(EventLogError, match="not found"):
        load(tmp_path / "nope.csv")
    with pytest.raises(EventLogError, match=r"set data\.format"):
        load(write(tmp_path / "events.txt", csv_text(EVENTS)))
    assert len(load(tmp_path / "events.txt", format="csv")) == len(EVENTS)


def test_ids_are_unified_across_batches_in_order_of_first_appearance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "_CSV_BLOCK", 1 << 10)
    monkeypatch.setattr(events, "_MERGE_MIN", 1)
    rng = np.random.default_rng(0)
    users = [f"u{x}" for x in rng.integers(0, 300, 2000)]
    log = load(write(tmp_path / "e.csv", csv_text([(u, "i", "view", T0, "") for u in users])))
    assert log.user_ids[log.user].tolist() == users
    assert log.user_ids.tolist() == list(dict.fromkeys(users))


def test_select_keeps_the_dictionaries(tmp_path: Path) -> None:
    log = load(write(tmp_path / "e.csv", csv_text(EVENTS)))
    later = log.select(log.timestamp >= T0 + 120)
    assert decoded(later) == EVENTS[2:]
    assert later.user_ids is log.user_ids and later.item_ids is log.item_ids
    assert decoded(log.select([3, 0])) == [EVENTS[3], EVENTS[0]]


def test_a_report_quotes_the_first_twenty_bad_rows_and_counts_them_all(tmp_path: Path) -> None:
    rows = [("u", "i", "view", T0 if k % 2 else "never", "c") for k in range(60)]
    report = load(write(tmp_path / "e.csv", csv_text(rows))).report
    assert report.bad.counts == {"unparsable timestamp": 30}
    assert [line for line, _, _ in report.bad.examples] == list(range(2, 41, 2))
    assert report.rows_read == report.rows_kept + report.bad.total == 60
