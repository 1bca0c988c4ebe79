"""A synthetic e-commerce event log whose structure the whole system's tests can rely on.

The world: categories ``c000``… come in complementary pairs (c000, c001), (c002, c003), … like
phones and phone cases. Every item ``i000000``… belongs to one category, and within a category
item popularity is Zipf-like. Users have a few favourite categories. A session picks a category
c, *views* several items of c (substitutes; a few views stray elsewhere), may *favorite* one, may
*cart* the last one viewed, and **after a cart the journey moves to comp(c)**: views there and
sometimes a second cart; carted items may be *purchased* at the end. Some sessions are bounces of
at most three views, for the trainer's min-length rule to drop.

So a trained skip-gram model should put an item's view neighbours in its own category and its
cart neighbours in the complement more often: view embeddings find substitutes, cart embeddings
complements (the paper's figure 1). Sessions are hours apart, events inside one seconds to
minutes apart, so a 30-minute inactivity cut recovers them. Everything is built as numpy arrays
per batch of users (no per-event Python), deterministic for a given config.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from contracts.interactions import LABELS, Interaction

COLUMNS = ("user_id", "item_id", "interaction", "timestamp", "category_id")
FORMATS = (".csv", ".csv.gz", ".parquet", ".jsonl")
_BATCH_USERS = 20_000  # users per vectorised batch: bounds memory; part of what a seed means
_MAX_VIEWS = 40  # cap on views per journey leg, so a session stays well under a few hours
_MAX_GAP = 25 * 60  # longest gap inside a session: clearly under a 30-minute inactivity cut
_V, _F, _C, _P = (int(i) for i in Interaction)
# A session is eight consecutive segments: views, favorite, views, cart, complement views,
# second cart, purchase of the first cart, purchase of the second.
_SEGMENT_INTERACTION = np.array([_V, _F, _V, _C, _V, _C, _P, _P], dtype=np.int8)


@dataclass(frozen=True)
class SynthConfig:
    """The knobs of the simulated shop; defaults make a corpus that trains in seconds."""

    users: int = 2000  # enough sessions for the view/cart contrast to be learnable
    items: int = 5000
    categories: int = 50  # even: categories come in complementary pairs
    days: int = 9  # Taobao UserBehavior spans nine days ...
    start: datetime = datetime(2017, 11, 25, tzinfo=UTC)  # ... from this one
    seed: int = 7
    sessions_per_user: float = 3.0  # Poisson mean; every user has at least one session
    favorite_categories: int = 3  # users return to a few categories
    explore_rate: float = 0.1  # sessions in a category drawn from overall popularity instead
    category_skew: float = 0.6  # Zipf exponent of category popularity: some aisles are busier
    item_skew: float = 1.0  # Zipf exponent within a category: subsampling and popularity matter
    bounce_rate: float = 0.15  # sessions of 1-3 views, which the trainer drops
    views_mean: float = 6.0  # views before the cart decision (at least one)
    complement_views_mean: float = 5.0  # views after a cart (at least one)
    noise_rate: float = 0.05  # views that stray into a random category: not trivially separable
    favorite_rate: float = 0.25  # sessions that favorite one viewed item
    cart_rate: float = 0.4  # sessions that cart the last viewed item
    follow_rate: float = 0.85  # after a cart, move to the complement (else keep browsing c)
    second_cart_rate: float = 0.4  # carts after a cart: the complement bought with it
    purchase_rate: float = 0.5  # each carted item is bought at the end of the session
    gap_seconds: float = 40.0  # median gap between events of a session (log-normal, < 30 min)
    session_gap_hours: float = 1.0  # least gap between a user's sessions: well over 30 minutes

    def __post_init__(self) -> None:
        if self.categories < 2 or self.categories % 2:
            raise ValueError(f"categories must be even and >= 2, got {self.categories}")
        if self.items < self.categories:
            raise ValueError(f"need at least one item per category: items={self.items}")
        if self.users < 1 or self.days < 1 or self.favorite_categories < 1:
            raise ValueError("users, days and favorite_categories must be >= 1")
        for f in fields(self):
            if f.name.endswith("_rate") and not 0.0 <= getattr(self, f.name) <= 1.0:
                raise ValueError(f"{f.name} must be in [0, 1], got {getattr(self, f.name)}")
        if min(self.sessions_per_user, self.views_mean, self.complement_views_mean) < 1:
            raise ValueError("sessions_per_user, views_mean and complement_views_mean must be >= 1")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")


# The benchmark corpus: ~4.9M events, ~300k distinct (item, interaction) pairs, ~2 s to make.
BENCHMARK = SynthConfig(users=200_000, items=120_000, categories=2000)


def complement(category_id: str) -> str:
    """The complementary category of a generated id: c000 <-> c001, c002 <-> c003, …"""
    digits = category_id[1:]
    if not category_id.startswith("c") or not digits.isdigit():
        raise ValueError(f"not a generated category id: {category_id!r}")
    return f"c{int(digits) ^ 1:0{len(digits)}d}"


def _ids(prefix: str, n: int, least_width: int) -> pa.Array:
    width = max(least_width, len(str(n - 1)))
    return pa.array([f"{prefix}{i:0{width}d}" for i in range(n)], pa.string())


def _zipf(rng: np.random.Generator, n: np.ndarray, skew: float) -> np.ndarray:
    """A rank in [0, n) per entry, P(rank) roughly ∝ (rank + 1)^-skew (continuous inverse CDF)."""
    u = rng.random(n.shape)
    if abs(skew - 1.0) < 1e-9:
        x = np.exp(u * np.log1p(n)) - 1.0
    else:
        e = 1.0 - skew
        x = (1.0 + u * ((n + 1.0) ** e - 1.0)) ** (1.0 / e) - 1.0
    return np.minimum(x.astype(np.int64), n - 1)


@dataclass(frozen=True)
class _World:
    """The fixed part of the shop, shared by all batches: catalogue, popularity, tastes."""

    category_cdf: np.ndarray  # popularity of each category, cumulative
    category_start: np.ndarray  # category k owns popularity slots [start[k], start[k + 1])
    slot_item: np.ndarray  # popularity slot -> item index (so ids carry no order)
    item_category: np.ndarray  # item index -> category index
    user_favorites: np.ndarray  # (users, favorite_categories) category indices

    def sample_categories(self, rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
        return _sample(self.category_cdf, rng, size)

    def sample_items(
        self, rng: np.random.Generator, category: np.ndarray, skew: float
    ) -> np.ndarray:
        lo = self.category_start[category]
        return self.slot_item[lo + _zipf(rng, self.category_start[category + 1] - lo, skew)]


def _sample(cdf: np.ndarray, rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
    return np.searchsorted(cdf, rng.random(size), side="right")


def _world(config: SynthConfig) -> _World:
    rng = np.random.default_rng([config.seed, 0])
    weights = rng.permutation(np.arange(1, config.categories + 1) ** -config.category_skew)
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    start = np.arange(config.categories + 1, dtype=np.int64) * config.items // config.categories
    slot_item = rng.permutation(config.items)
    item_category = np.empty(config.items, dtype=np.int64)
    item_category[slot_item] = np.repeat(np.arange(config.categories), np.diff(start))
    favorites = _sample(cdf, rng, (config.users, config.favorite_categories))
    return _World(cdf, start, slot_item, item_category, favorites)


def _batch(
    config: SynthConfig, world: _World, users: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Events of ``users`` as (user, item, interaction, timestamp) arrays in (user, time) order."""
    c = config
    n_sessions = np.maximum(1, rng.poisson(c.sessions_per_user, users.size))
    sess_user = np.repeat(users, n_sessions)
    s = sess_user.size  # sessions in this batch; one entry per session in the arrays below
    pick = rng.integers(c.favorite_categories, size=s)
    cat = np.where(
        rng.random(s) < c.explore_rate,
        world.sample_categories(rng, (s,)),
        world.user_favorites[sess_user, pick],
    )
    bounce = rng.random(s) < c.bounce_rate
    v1 = np.where(bounce, rng.integers(1, 4, s), 1 + rng.poisson(c.views_mean - 1, s))
    v1 = np.minimum(v1, _MAX_VIEWS)
    fav = ~bounce & (rng.random(s) < c.favorite_rate)
    before_fav = np.where(fav, (rng.random(s) * v1).astype(np.int64) + 1, v1)
    cart1 = ~bounce & (rng.random(s) < c.cart_rate)
    cat2 = np.where(rng.random(s) < c.follow_rate, cat ^ 1, cat)
    v2 = np.where(cart1, np.minimum(1 + rng.poisson(c.complement_views_mean - 1, s), _MAX_VIEWS), 0)
    cart2 = cart1 & (rng.random(s) < c.second_cart_rate)
    buy1 = cart1 & (rng.random(s) < c.purchase_rate)
    buy2 = cart2 & (rng.random(s) < c.purchase_rate)
    lengths = np.stack([before_fav, fav, v1 - before_fav, cart1, v2, cart2, buy1, buy2], axis=1)
    lengths = lengths.astype(np.int64)
    seg_end = np.cumsum(lengths, axis=1)
    n_events = seg_end[:, -1]
    first = np.cumsum(n_events) - n_events
    seg = np.repeat(np.tile(np.arange(8, dtype=np.int8), s), lengths.ravel())
    sess = np.repeat(np.arange(s), n_events)
    e = sess.size  # events in this batch

    # Views: the leg's category, except noise; the view right before a cart is never noise.
    ev_cat = np.where(seg == 4, cat2[sess], cat[sess])
    kept = np.zeros(e, dtype=bool)
    kept[(first + v1 - 1 + (fav & (v1 > before_fav)))[cart1]] = True
    kept[(first + seg_end[:, 3] + v2 - 1)[cart2]] = True
    noise = (rng.random(e) < c.noise_rate) & ~kept
    ev_cat[noise] = rng.integers(c.categories, size=int(noise.sum()))
    item = world.sample_items(rng, ev_cat, c.item_skew)
    # Favorites and carts take the item viewed just before; purchases the carted ones.
    for at in (
        (first + before_fav)[fav],
        (first + seg_end[:, 2])[cart1],
        (first + seg_end[:, 4])[cart2],
    ):
        item[at] = item[at - 1]
    item[(first + seg_end[:, 5])[buy1]] = item[(first + seg_end[:, 2])[buy1]]
    item[(first + seg_end[:, 6])[buy2]] = item[(first + seg_end[:, 4])[buy2]]

    # Time: log-normal gaps inside a session; sessions laid out in order with the least gap.
    gaps = np.clip(rng.lognormal(np.log(c.gap_seconds), 1.0, e), 1, _MAX_GAP).astype(np.int64)
    gaps[first] = 0
    elapsed = np.cumsum(gaps)
    offset = elapsed - elapsed[first][sess]
    footprint = offset[first + n_events - 1] + int(c.session_gap_hours * 3600)
    user_first = np.cumsum(n_sessions) - n_sessions
    user_need = np.add.reduceat(footprint, user_first)
    slack = c.days * 86400 - user_need
    if (slack <= 0).any():
        raise ValueError(f"days={c.days} is too short for the sessions; raise days")
    free = rng.random(s) * np.repeat(slack, n_sessions)
    free = free[np.lexsort((free, sess_user))].astype(np.int64)
    earlier = np.cumsum(footprint) - footprint
    earlier -= earlier[np.repeat(user_first, n_sessions)]
    session_start = int(c.start.timestamp()) + free + earlier
    timestamp = session_start[sess] + offset
    return sess_user[sess], item, _SEGMENT_INTERACTION[seg], timestamp


def generate(config: SynthConfig) -> pa.Table:
    """The event log of ``config``'s world: string ids, int64 unix seconds, sorted by (user, time).

    Columns are ``COLUMNS``; ids are zero-padded, so string order is numeric order and every
    user's events are contiguous. The same config always gives the same table.
    """
    world = _world(config)
    parts = []
    for b, lo in enumerate(range(0, config.users, _BATCH_USERS)):
        users = np.arange(lo, min(lo + _BATCH_USERS, config.users))
        parts.append(_batch(config, world, users, np.random.default_rng([config.seed, 1, b])))
    user, item, interaction, timestamp = (np.concatenate(cols) for cols in zip(*parts, strict=True))
    columns = [
        _ids("u", config.users, 6).take(user),
        _ids("i", config.items, 6).take(item),
        pa.array(LABELS, pa.string()).take(interaction),
        pa.array(timestamp, pa.int64()),
        _ids("c", config.categories, 3).take(world.item_category[item]),
    ]
    return pa.table(columns, names=list(COLUMNS))


def _json_values(column: pa.Array) -> pa.Array:
    if pa.types.is_string(column.type):
        if pc.any(pc.match_substring_regex(column, '[\\x00-\\x1f"\\\\]')).as_py():
            if pc.any(pc.match_substring_regex(column, "[\\x00-\\x1f]")).as_py():
                raise ValueError("control characters in a string column; write CSV or Parquet")
            column = pc.replace_substring(pc.replace_substring(column, "\\", "\\\\"), '"', '\\"')
        text = pc.binary_join_element_wise('"', column, '"', "")
    elif pa.types.is_integer(column.type) or pa.types.is_boolean(column.type):
        text = pc.cast(column, pa.string())
    else:
        raise TypeError(f"cannot write {column.type} to JSONL")
    return pc.if_else(pc.is_null(column), "null", text)


def _write_jsonl(table: pa.Table, path: Path) -> None:
    with path.open("wb") as sink:
        for batch in table.to_batches(max_chunksize=500_000):
            if not batch.num_rows:
                continue
            parts: list[pa.Array | str] = []
            for i, name in enumerate(batch.schema.names):
                parts += [("{" if i == 0 else ",") + json.dumps(name) + ":"]
                parts.append(_json_values(batch.column(i)))
            lines = pc.binary_join_element_wise(*parts, "}\n", "")
            # Each value already ends in a newline, so the string data buffer is the file's bytes.
            offsets = np.frombuffer(lines.buffers()[1], np.int32)[lines.offset :]
            sink.write(lines.buffers()[2][offsets[0] : offsets[len(lines)]])


def write_events(table: pa.Table, path: Path) -> None:
    """Write ``table`` in the format its extension names (.csv, .csv.gz, .parquet, .jsonl)."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".csv.gz"):
        # Level 1: several times faster than the default for ~20% more bytes; mtime 0 makes the
        # file's bytes depend on the table alone.
        with gzip.GzipFile(path, "wb", compresslevel=1, mtime=0) as sink:
            pa_csv.write_csv(table, sink)
    elif name.endswith(".csv"):
        pa_csv.write_csv(table, path)
    elif name.endswith(".parquet"):
        pq.write_table(table, path)
    elif name.endswith(".jsonl"):
        _write_jsonl(table, path)
    else:
        raise ValueError(f"unknown event-log extension in {path}; expected one of {FORMATS}")
