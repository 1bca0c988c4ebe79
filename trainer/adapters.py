"""Public datasets in their original layout: one small declarative `Adapter` each.

An adapter says how a dataset's files map onto the canonical event-log columns (see
docs/data-loading.md): which of its columns holds each canonical one, whether a CSV may come
without a header (and then its column order), the dataset's own interaction names, the names it
deliberately ignores, and the unit of numeric timestamps. This module also turns raw values into
canonical ones — interaction names into `Interaction` codes, timestamps into unix seconds — with
vectorised pyarrow/numpy code, so a new dataset is one more `Adapter(...)` and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contracts.interactions import Interaction

REQUIRED: tuple[str, ...] = ("user_id", "item_id", "interaction", "timestamp")
OPTIONAL: tuple[str, ...] = ("category_id", "session_id", "shop_id", "query", "impressions")
UNKNOWN = -1  # interaction code of a name no map knows: a bad row
IGNORED = -2  # interaction code of a name the adapter drops on purpose: not an error

_UNIT_SECONDS = {"s": 1, "ms": 1000}
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_800  # years 1 to 9999
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_ISO = (
    r"^(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
    r"(?:[Tt ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,]\d+)?)?)?"
    r"\s*(?:(?P<utc>[Zz]|UTC|GMT)|(?P<sign>[+-])(?P<oh>\d{2}):?(?P<om>\d{2})?)?$"
)


def normalise_name(name: str) -> str:
    """How interaction names are compared: case-insensitive, surrounding blanks stripped."""
    return name.strip().lower()


@dataclass(frozen=True, eq=False)
class Adapter:
    """How one dataset's files map onto the canonical event log.

    `columns` maps a canonical column to the dataset's name for it (canonical columns not named
    keep their own name). `headerless_columns` is the full column order of a CSV that may lack
    a header (None: a header is required). `interactions` maps the dataset's names to canonical
    labels; `ignored` names are dropped and counted, not reported as bad. Numeric timestamps
    are in `timestamp_unit`; ISO-8601 strings (also with a trailing " UTC") are always read.
    `timestamp_unit = "mmdd"` reads day-only stamps such as Tmall's ``1111`` (11 November) as
    midnight UTC of that day in `timestamp_year`.
    """

    name: str
    columns: Mapping[str, str] = field(default_factory=dict)
    headerless_columns: tuple[str, ...] | None = None
    interactions: Mapping[str, str] = field(default_factory=dict)
    ignored: frozenset[str] = frozenset()
    timestamp_unit: Literal["s", "ms", "mmdd"] = "s"
    timestamp_year: int = 1970  # the year of "mmdd" stamps

    def source(self, column: str) -> str:
        """The dataset's name for canonical `column`."""
        return self.columns.get(column, column)

    def interaction_codes(self, overrides: Mapping[str, str]) -> dict[str, int]:
        """Normalised name → `Interaction` value, or IGNORED.

        The adapter's map, then `overrides` (a config's interaction_map) merged over it; an
        override also wins over an ignored name. Canonical labels always map to themselves.
        """
        codes = {normalise_name(name): IGNORED for name in self.ignored}
        for maps in (self.interactions, overrides):
            codes.update({normalise_name(k): int(Interaction.parse(v)) for k, v in maps.items()})
        codes.update({i.label: int(i) for i in Interaction})
        return codes


ADAPTERS: dict[str, Adapter] = {
    "canonical": Adapter("canonical"),
    # Taobao UserBehavior.csv: no header in the original; copies often add one.
    "taobao": Adapter(
        "taobao",
        columns={"interaction": "behavior_type"},
        headerless_columns=("user_id", "item_id", "category_id", "behavior_type", "timestamp"),
        interactions={"pv": "view", "fav": "favorite", "cart": "cart", "buy": "purchase"},
    ),
    # REES46 multi-category store: event_time like "2019-10-01 00:00:00 UTC".
    "rees46": Adapter(
        "rees46",
        columns={
            "item_id": "product_id",
            "interaction": "event_type",
            "timestamp": "event_time",
            "session_id": "user_session",
        },
        interactions={"view": "view", "cart": "cart", "purchase": "purchase"},
        ignored=frozenset({"remove_from_cart"}),
    ),
    # Tmall (IJCAI-15 repeat buyers) user_log_format1.csv: category and seller (shop) on every
    # row; day-only time stamps (mmdd, 2015), so a user's day is one session, in file order.
    "tmall": Adapter(
        "tmall",
        columns={
            "category_id": "cat_id",
            "shop_id": "seller_id",
            "timestamp": "time_stamp",
            "interaction": "action_type",
        },
        interactions={"0": "view", "1": "cart", "2": "purchase", "3": "favorite"},
        timestamp_unit="mmdd",
        timestamp_year=2015,
    ),
    # RetailRocket events.csv: millisecond timestamps, no category in this file.
    "retailrocket": Adapter(
        "retailrocket",
        columns={"user_id": "visitorid", "item_id": "itemid", "interaction": "event"},
        interactions={"view": "view", "addtocart": "cart", "transaction": "purchase"},
        timestamp_unit="ms",
    ),
}


def get_adapter(name: str) -> Adapter:
    """The adapter called `name`; ValueError naming the choices."""
    try:
        return ADAPTERS[name]
    except KeyError:
        raise ValueError(
            f"unknown adapter {name!r}; expected one of {', '.join(ADAPTERS)}"
        ) from None


def clean_text(values: pa.Array) -> pa.Array:
    """Values as trimmed strings (ids stay as written: "007" is not 7); null where blank."""
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    trimmed = pc.utf8_trim_whitespace(values)
    blank = pc.equal(pc.binary_length(trimmed), 0)
    return pc.if_else(blank, None, trimmed) if pc.any(blank).as_py() else trimmed


def decode_interactions(
    names: pa.Array, codes: Mapping[str, int]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per row the code of its name (`codes` of the normalised name, else UNKNOWN; null rows
    UNKNOWN too), per row its index into the batch's distinct names (-1 for null), and those
    names. Only the distinct names are looked up, in Python; rows are mapped by numpy."""
    encoded = pc.dictionary_encode(names)
    labels = encoded.dictionary.to_pylist()
    table = np.array([codes.get(normalise_name(s), UNKNOWN) for s in labels] + [UNKNOWN], np.int8)
    index = encoded.indices.fill_null(-1).to_numpy()
    return table[index], index, labels


def decode_timestamps(
    values: pa.Array, unit: Literal["s", "ms", "mmdd"], year: int = 1970
) -> tuple[np.ndarray, np.ndarray]:
    """Unix seconds (int64, floored) and a mask of the values that parsed.

    Integers and floats are in `unit`; timestamp-typed columns carry their own unit; strings are
    numbers in `unit` or ISO-8601 (date, optional time with fractions, optional Z/UTC/±hh:mm
    offset; naive means UTC). Strings take a fast path when all are integers, else only the
    batch's distinct strings are parsed — logs are roughly time-ordered, so those are few.
    """
    if unit == "mmdd":
        return _month_days(values, year)
    per_second = _UNIT_SECONDS[unit]
    kind = values.type
    if pa.types.is_dictionary(kind):
        values, kind = values.cast(kind.value_type), kind.value_type
    if pa.types.is_timestamp(kind):
        ticks = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[kind.unit]
        return _checked(values.cast(pa.int64()), ticks)
    if pa.types.is_integer(kind):
        return _checked(values.cast(pa.int64()), per_second)
    if pa.types.is_floating(kind):
        return _checked(values.cast(pa.float64()), per_second)
    if not pa.types.is_string(kind):
        values = values.cast(pa.string())
    if pc.all(pc.utf8_is_digit(values.slice(0, 16))).as_py() is not False:
        try:  # a failing cast scans every value, so only try when a sample says integers
            return _checked(pc.cast(values, pa.int64()), per_second)
        except pa.ArrowInvalid:
            pass
    encoded = pc.dictionary_encode(values)
    if len(encoded.dictionary) == 0:
        return np.zeros(len(values), np.int64), np.zeros(len(values), bool)
    secs, ok = _parse_text(pc.utf8_trim_whitespace(encoded.dictionary), per_second)
    index = encoded.indices.fill_null(0).to_numpy()
    valid = ok[index] & _valid(encoded.indices)
    return np.where(valid, secs[index], 0), valid


def _month_days(values: pa.Array, year: int) -> tuple[np.ndarray, np.ndarray]:
    """Midnight UTC of ``year``-mm-dd for values ``mmdd`` (1111, "0511"); others fail."""
    text = pc.utf8_trim_whitespace(values.cast(pa.string()))
    ok = pc.match_substring_regex(text, r"^\d{3,4}$").fill_null(False)
    digits = pc.if_else(ok, text, "0").cast(pa.int64()).to_numpy()
    month, day = digits // 100, digits % 100
    months = np.array([31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28,
                       31, 30, 31, 30, 31, 31, 30, 31, 30, 31])  # fmt: skip
    valid = ok.to_numpy(zero_copy_only=False) & (month >= 1) & (month <= 12) & (day >= 1)
    valid &= day <= months[np.clip(month, 1, 12) - 1]
    days = _days_from_civil(np.full(len(digits), year), np.clip(month, 1, 12), day)
    return np.where(valid, days * 86_400, 0), valid


def _valid(values: pa.Array) -> np.ndarray:
    """The non-null mask of `values` as a numpy bool array."""
    return values.is_valid().to_numpy(zero_copy_only=False)


def _checked(values: pa.Array, per_second: int) -> tuple[np.ndarray, np.ndarray]:
    """Floor `values` (ints or floats, `per_second` ticks a second) to seconds, within range."""
    ok = _valid(values)
    if pa.types.is_integer(values.type):
        secs = np.floor_divide(values.fill_null(0).to_numpy(), per_second)
    else:
        raw = values.fill_null(0.0).to_numpy()
        ok &= np.isfinite(raw)
        seconds = np.floor(np.where(ok, raw, 0.0) / per_second)
        secs = np.clip(seconds, _MIN_SECONDS, _MAX_SECONDS).astype(np.int64)
    ok &= (secs >= _MIN_SECONDS) & (secs < _MAX_SECONDS)
    return np.where(ok, secs, 0), ok


def _parse_text(text: pa.Array, per_second: int) -> tuple[np.ndarray, np.ndarray]:
    """Seconds and validity for trimmed strings: numbers in `per_second` ticks, or ISO-8601."""
    is_number = pc.match_substring_regex(text, _NUMBER).fill_null(False)
    numbers = pc.cast(pc.if_else(is_number, text, pa.scalar(None, pa.string())), pa.float64())
    secs, ok = _checked(numbers, per_second)
    parts = pc.extract_regex(text, _ISO)
    is_iso = _valid(parts) & ~ok

    def number(name: str, default: str = "0") -> np.ndarray:
        digits = parts.field(name)
        return pc.cast(pc.if_else(pc.equal(digits, ""), default, digits), pa.int64()).to_numpy()

    year, month, day = number("y", "1970"), number("mo", "1"), number("d", "1")
    hour, minute, second = number("h"), number("mi"), number("s")
    days_in_month = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[
        np.clip(month, 1, 12) - 1
    ]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days_in_month = days_in_month + ((month == 2) & leap)
    valid = (month >= 1) & (month <= 12) & (day >= 1) & (day <= days_in_month)
    valid &= (hour <= 23) & (minute <= 59) & (second <= 60)
    offset = (number("oh") * 60 + number("om")) * 60
    offset = np.where(
        pc.equal(parts.field("sign"), "-").to_numpy(zero_copy_only=False), -offset, offset
    )
    iso = _days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset
    use_iso = is_iso & valid
    return np.where(use_iso, iso, secs), ok | use_iso


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    year = year - (month <= 2)
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468
