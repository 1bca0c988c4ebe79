"""A synthetic e-commerce event log whose structure the whole system's tests can rely on.

One idea at ~650 lines: one simulated world. Its parts (catalogue, users, journeys, optional
shops, queries and impressions) draw from random streams in a fixed order, which is what makes
every test's planted effect reproducible; split across files, that order would be easy to break
without a test noticing. A batch of users is made in small steps (``_batch``) in that order.

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

Three knobs, all off by default (and then the table is exactly the one above), add the trainer's
extension columns after ``COLUMNS``, in this order:

- ``shops``: every item belongs to one shop ``s0000``…, and a shop sells in one category pair, so
  its neighbours are shops of the same or the complementary category. Column ``shop_id``.
- ``search_rate``: that fraction of the non-bounce sessions starts with a search; their first
  view, always in the session's category, carries a ``query`` naming it ("cheap c012").
- ``listing_size``: implicit negatives. Items have a hidden binary style, each session leg a
  style it mostly sticks to, and every non-noise view is a click on a listing: ``impressions``
  holds the items shown above it and scrolled past, ``|``-joined in display order, all of the
  clicked item's category and of the *other* style. So skipped items are worse for the session
  than clicked ones, and a model using them as negatives should separate the styles better.

The new columns are null where they do not apply. Their random numbers come from generators of
their own, so the draws of the base table never move: a knob changes only what it must (listings
re-draw the items of views, a search keeps its session's first view out of the noise).
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
from trainer.events import IMPRESSION_SEPARATOR

COLUMNS = ("user_id", "item_id", "interaction", "timestamp", "category_id")
EXTRA_COLUMNS = ("shop_id", "query", "impressions")  # in this order, each only when its knob is on
# A search names its category in one of these phrasings: lower-case words, single spaces.
QUERY_TEMPLATES = ("{} sale", "cheap {}", "buy {}")
FORMATS = (".csv", ".csv.gz", ".parquet", ".jsonl")
_BATCH_USERS = 20_000  # users per vectorised batch: bounds memory; part of what a seed means
_MAX_VIEWS = 40  # cap on views per journey leg, so a session stays well under a few hours
_MAX_GAP = 25 * 60  # longest gap inside a session: clearly under a 30-minute inactivity cut
_MAX_LISTING = 100  # a listing page; bounds the (click, slot) arrays and the string column
_TRIES = 64  # rounds of impression draws before a listing is cut short (rare items left)
_RACE_MAX = 256  # widest (category, style) subset whose listings are drawn by an exact race
_LISTING_CELLS = 4_000_000  # (click, rank) cells drawn together: bounds memory
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
    # The blog extensions; 0 switches each off, and with all off the table is exactly COLUMNS.
    listing_size: int = 0  # implicit negatives: a view shows 0..listing_size-1 skipped items
    style_fidelity: float = 0.9  # with listings, views that keep to the session leg's style
    shops: int = 0  # entity tokens: items belong to shops, each selling in one category pair
    search_rate: float = 0.0  # entity tokens: non-bounce sessions whose first view has a query

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
        if not 0 <= self.listing_size <= _MAX_LISTING:
            raise ValueError(f"listing_size must be in 0..{_MAX_LISTING}, got {self.listing_size}")
        if self.listing_size and self.items < 2 * self.categories:
            raise ValueError(
                f"listing_size needs two items per category (one per style): items={self.items}"
            )
        if not 0.0 <= self.style_fidelity <= 1.0:
            raise ValueError(f"style_fidelity must be in [0, 1], got {self.style_fidelity}")
        if not 0 <= self.shops <= self.items:
            raise ValueError(f"shops must be in 0..items ({self.items}), got {self.shops}")


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


@dataclass(frozen=True)
class _Styles:
    """The items' hidden styles, and each (category, style) subset in popularity order."""

    item_style: np.ndarray  # item index -> 0 or 1
    start: np.ndarray  # subset 2 * category + style owns positions [start[k], start[k + 1])
    item: np.ndarray  # position -> item index, by popularity within each subset
    position: np.ndarray  # item index -> position

    def sample_items(
        self, rng: np.random.Generator, category: np.ndarray, style: np.ndarray, skew: float
    ) -> np.ndarray:
        key = 2 * category + style
        lo = self.start[key]
        return self.item[lo + _zipf(rng, self.start[key + 1] - lo, skew)]


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


def _styles(config: SynthConfig, world: _World) -> _Styles:
    """Half of each category's items (rounded) per style, at random, whatever their popularity."""
    rng = np.random.default_rng([config.seed, 2])
    slot_category = world.item_category[world.slot_item]
    order = np.lexsort((rng.random(config.items), slot_category))
    slot_style = np.empty(config.items, dtype=np.int64)
    slot_style[order] = (np.arange(config.items) - world.category_start[slot_category[order]]) % 2
    key = 2 * slot_category + slot_style
    by_subset = np.argsort(key, kind="stable")  # stable: popularity order within a subset
    start = np.searchsorted(key[by_subset], np.arange(2 * config.categories + 1))
    item_style = np.empty(config.items, dtype=np.int64)
    item_style[world.slot_item] = slot_style
    item = world.slot_item[by_subset]
    position = np.empty(config.items, dtype=np.int64)
    position[item] = np.arange(config.items)
    return _Styles(item_style, start, item, position)


def _item_shops(config: SynthConfig, world: _World) -> np.ndarray:
    """Item index -> shop index. Shop s sells in category pair s mod pairs; a pair's items, in
    popularity order, go round-robin over its shops, so every shop has a mix of popular and rare
    items. With fewer shops than pairs, pair p's items all go to shop p mod shops."""
    pairs = config.categories // 2
    pair = np.arange(pairs)
    n_shops = np.maximum(1, config.shops // pairs + (pair < config.shops % pairs))
    pair_start = world.category_start[::2]  # pair p owns popularity slots of categories 2p, 2p+1
    slot_pair = np.repeat(pair, np.diff(pair_start))
    rank = np.arange(config.items) - pair_start[slot_pair]
    shop = np.empty(config.items, dtype=np.int64)
    shop[world.slot_item] = (slot_pair + (rank % n_shops[slot_pair]) * pairs) % config.shops
    return shop


def item_styles(config: SynthConfig) -> dict[str, int]:
    """Item id -> its hidden style (0 or 1) in ``config``'s world, the one ``listing_size`` uses:
    for tests and benchmarks that check a model separates the styles."""
    world = _world(config)
    ids = _ids("i", config.items, 6).to_pylist()
    return dict(zip(ids, _styles(config, world).item_style.tolist(), strict=True))


@dataclass(frozen=True)
class _Plan:
    """A batch's sessions, decided before any item is: one entry per session, then per event."""

    n_sessions: np.ndarray  # per user of the batch
    user: np.ndarray  # per session …
    cat: np.ndarray  # the first leg's category
    cat2: np.ndarray  # the second leg's (after a cart): usually the complement
    bounce: np.ndarray
    v1: np.ndarray  # views of the first leg
    before_fav: np.ndarray  # views before the favorite (v1 without one)
    fav: np.ndarray
    cart1: np.ndarray
    v2: np.ndarray  # views of the second leg
    cart2: np.ndarray
    buy1: np.ndarray
    buy2: np.ndarray
    seg_end: np.ndarray  # (sessions, 8): where each of the 8 segments ends, from the start
    first: np.ndarray  # the session's first event
    n_events: np.ndarray  # … to here
    seg: np.ndarray  # per event: its segment (0 views, 1 favorite, 2 views, 3 cart, 4 views,
    #                  5 cart, 6 and 7 purchases)
    sess: np.ndarray  # per event: its session


def _batch(
    config: SynthConfig, world: _World, styles: _Styles | None, users: np.ndarray, b: int
) -> tuple[np.ndarray, ...]:
    """Events of ``users`` (batch ``b``) as (user, item, interaction, timestamp) arrays in (user,
    time) order, then (query, n_shown, shown): a query code per event (3 * category + phrasing,
    or -1), and per event the count of its impressions, all of them concatenated in event order;
    each of the last three empty when its knob is off.

    Steps in the order they draw from the batch's random stream (searches and listings have
    streams of their own, so switching them on changes nothing else)."""
    rng = np.random.default_rng([config.seed, 1, b])
    plan = _plan_sessions(config, world, users, rng)
    ev_cat, noise, item = _view_items(config, world, plan, rng)
    query = _searches(config, world, plan, b, ev_cat, noise, item)
    n_shown, shown = _listing_views(config, styles, plan, b, ev_cat, noise, item)
    _take_decided_items(plan, item)
    timestamp = _timestamps(config, plan, rng)
    interaction = _SEGMENT_INTERACTION[plan.seg]
    return plan.user[plan.sess], item, interaction, timestamp, query, n_shown, shown


def _plan_sessions(
    c: SynthConfig, world: _World, users: np.ndarray, rng: np.random.Generator
) -> _Plan:
    """How many sessions each user has, and what each session does, before choosing items."""
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
    return _Plan(
        n_sessions=n_sessions,
        user=sess_user,
        cat=cat,
        cat2=cat2,
        bounce=bounce,
        v1=v1,
        before_fav=before_fav,
        fav=fav,
        cart1=cart1,
        v2=v2,
        cart2=cart2,
        buy1=buy1,
        buy2=buy2,
        seg_end=seg_end,
        first=np.cumsum(n_events) - n_events,
        n_events=n_events,
        seg=np.repeat(np.tile(np.arange(8, dtype=np.int8), s), lengths.ravel()),
        sess=np.repeat(np.arange(s), n_events),
    )


def _view_items(
    c: SynthConfig, world: _World, plan: _Plan, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per event its category (the leg's, except noise: the view right before a cart is never
    noise), whether it strayed, and an item of its category (the decided ones are set later)."""
    p, e = plan, plan.sess.size
    ev_cat = np.where(p.seg == 4, p.cat2[p.sess], p.cat[p.sess])
    kept = np.zeros(e, dtype=bool)
    kept[(p.first + p.v1 - 1 + (p.fav & (p.v1 > p.before_fav)))[p.cart1]] = True
    kept[(p.first + p.seg_end[:, 3] + p.v2 - 1)[p.cart2]] = True
    noise = (rng.random(e) < c.noise_rate) & ~kept
    ev_cat[noise] = rng.integers(c.categories, size=int(noise.sum()))
    return ev_cat, noise, world.sample_items(rng, ev_cat, c.item_skew)


def _searches(
    c: SynthConfig,
    world: _World,
    plan: _Plan,
    b: int,
    ev_cat: np.ndarray,
    noise: np.ndarray,
    item: np.ndarray,
) -> np.ndarray:
    """A query code per event (-1 for none; empty without searches): some sessions start with a
    search for their category, whose first result is in that category (edits the arrays)."""
    if not c.search_rate:
        return np.zeros(0, dtype=np.int64)
    p, s = plan, plan.user.size
    search_rng = np.random.default_rng([c.seed, 3, b])
    searched = ~p.bounce & (search_rng.random(s) < c.search_rate)
    phrasing = search_rng.integers(len(QUERY_TEMPLATES), size=s)
    at = p.first[searched]
    query = np.full(p.sess.size, -1, dtype=np.int64)
    query[at] = (p.cat * len(QUERY_TEMPLATES) + phrasing)[searched]
    strayed = at[noise[at]]
    noise[at] = False
    ev_cat[at] = p.cat[searched]
    item[strayed] = world.sample_items(search_rng, ev_cat[strayed], c.item_skew)
    return query


def _listing_views(
    c: SynthConfig,
    styles: _Styles | None,
    plan: _Plan,
    b: int,
    ev_cat: np.ndarray,
    noise: np.ndarray,
    item: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Listings (empty without them): each leg keeps to a style, so its clicks are mostly of
    that style and the listing's skipped items of the other (edits ``item``)."""
    if styles is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    p = plan
    listing_rng = np.random.default_rng([c.seed, 2, b])
    leg_style = listing_rng.integers(2, size=(p.user.size, 2))
    clicked = np.flatnonzero(((p.seg == 0) | (p.seg == 2) | (p.seg == 4)) & ~noise)
    style = leg_style[p.sess[clicked], (p.seg[clicked] == 4).astype(np.int64)]
    category = ev_cat[clicked]
    faithful = listing_rng.random(clicked.size) < c.style_fidelity
    item[clicked[faithful]] = styles.sample_items(
        listing_rng, category[faithful], style[faithful], c.item_skew
    )
    n_shown = np.zeros(p.sess.size, dtype=np.int64)
    n_shown[clicked], shown = _listings(c, styles, listing_rng, item[clicked], category, 1 - style)
    return n_shown, shown


def _take_decided_items(plan: _Plan, item: np.ndarray) -> None:
    """Favorites and carts take the item viewed just before; purchases the carted ones."""
    p = plan
    for at in (
        (p.first + p.before_fav)[p.fav],
        (p.first + p.seg_end[:, 2])[p.cart1],
        (p.first + p.seg_end[:, 4])[p.cart2],
    ):
        item[at] = item[at - 1]
    item[(p.first + p.seg_end[:, 5])[p.buy1]] = item[(p.first + p.seg_end[:, 2])[p.buy1]]
    item[(p.first + p.seg_end[:, 6])[p.buy2]] = item[(p.first + p.seg_end[:, 4])[p.buy2]]


def _timestamps(c: SynthConfig, plan: _Plan, rng: np.random.Generator) -> np.ndarray:
    """Log-normal gaps inside a session; each user's sessions laid out in order over the days,
    at least ``session_gap_hours`` apart."""
    p, e = plan, plan.sess.size
    gaps = np.clip(rng.lognormal(np.log(c.gap_seconds), 1.0, e), 1, _MAX_GAP).astype(np.int64)
    gaps[p.first] = 0
    elapsed = np.cumsum(gaps)
    offset = elapsed - elapsed[p.first][p.sess]
    footprint = offset[p.first + p.n_events - 1] + int(c.session_gap_hours * 3600)
    user_first = np.cumsum(p.n_sessions) - p.n_sessions
    user_need = np.add.reduceat(footprint, user_first)
    slack = c.days * 86400 - user_need
    if (slack <= 0).any():
        raise ValueError(f"days={c.days} is too short for the sessions; raise days")
    free = rng.random(p.user.size) * np.repeat(slack, p.n_sessions)
    free = free[np.lexsort((free, p.user))].astype(np.int64)
    earlier = np.cumsum(footprint) - footprint
    earlier -= earlier[np.repeat(user_first, p.n_sessions)]
    session_start = int(c.start.timestamp()) + free + earlier
    return session_start[p.sess] + offset


def _listings(
    config: SynthConfig,
    styles: _Styles,
    rng: np.random.Generator,
    clicked: np.ndarray,
    category: np.ndarray,
    style: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """For each clicked item, the items shown above it: 0..listing_size-1 distinct items of its
    ``category`` and of ``style``, drawn by popularity, never the clicked one. Returns the count
    per click and the items, concatenated in click order and display order."""
    key = 2 * category + style
    lo, size = styles.start[key], styles.start[key + 1] - styles.start[key]
    own = styles.position[clicked] - lo  # the clicked item's rank in the subset, if it is in it
    own[(own < 0) | (own >= size)] = -1  # (a view off the leg's style may be of this one)
    want = np.minimum(rng.integers(config.listing_size, size=clicked.size), size - (own >= 0))
    shown = np.full((clicked.size, config.listing_size - 1), -1, dtype=np.int64)
    widest = int(size.max(initial=0))
    draw = _race if widest <= _RACE_MAX else _rejection
    step = max(1, _LISTING_CELLS // max(widest if draw is _race else 2 * shown.shape[1], 1))
    listed = np.flatnonzero(want > 0)
    for first in range(0, listed.size, step):  # chunks bound the (rows, ranks) arrays
        rows = listed[first : first + step]
        shown[rows] = draw(config, styles, rng, lo[rows], size[rows], own[rows], want[rows])
    filled = shown >= 0
    return filled.sum(axis=1), shown[filled]  # row-major: each listing's filled slots come first


def _race(
    config: SynthConfig,
    styles: _Styles,
    rng: np.random.Generator,
    lo: np.ndarray,
    size: np.ndarray,
    own: np.ndarray,
    want: np.ndarray,
) -> np.ndarray:
    """Listings drawn without replacement, exactly: the ranks of a subset in order of
    Exp(1) / weight are successive popularity draws each excluding the ones before."""
    ranks = np.arange(int(size.max(initial=1)))
    keys = rng.standard_exponential((lo.size, ranks.size), dtype=np.float32)
    keys /= _zipf_weights(ranks.size, config.item_skew).astype(np.float32)
    keys[ranks >= size[:, None]] = np.inf
    keys[np.flatnonzero(own >= 0), own[own >= 0]] = np.inf
    slots = config.listing_size - 1
    if slots < ranks.size:  # only the first ``slots`` ranks of the race are needed, in order
        order = np.argpartition(keys, slots - 1, axis=1)[:, :slots]
        order = np.take_along_axis(
            order, np.argsort(np.take_along_axis(keys, order, axis=1), axis=1), axis=1
        )
    else:
        order = np.argsort(keys, axis=1)
    shown = np.full((lo.size, slots), -1, dtype=np.int64)
    take = np.arange(order.shape[1]) < want[:, None]
    shown[:, : order.shape[1]][take] = styles.item[(lo[:, None] + order)[take]]
    return shown


def _rejection(
    config: SynthConfig,
    styles: _Styles,
    rng: np.random.Generator,
    lo: np.ndarray,
    size: np.ndarray,
    own: np.ndarray,
    want: np.ndarray,
) -> np.ndarray:
    """Listings from wide subsets, where a race over every rank costs too much: rounds of
    popularity draws with replacement, repeats dropped; a listing still short after _TRIES
    rounds (only rare items left) is cut short."""
    slots = config.listing_size - 1
    shown = np.full((lo.size, slots), -1, dtype=np.int64)
    todo = np.flatnonzero(want > 0)
    for _ in range(_TRIES):
        if not todo.size:
            break
        drawn = _zipf(rng, np.broadcast_to(size[todo, None], (todo.size, slots)), config.item_skew)
        drawn[drawn == own[todo, None]] = -1
        pool = np.concatenate([shown[todo], drawn], axis=1)  # the ones kept so far first
        fresh = _first_occurrences(pool)
        rank = np.cumsum(fresh, axis=1)
        keep = fresh & (rank <= want[todo, None])
        rows, _ = np.nonzero(keep)
        shown[todo[rows], rank[keep] - 1] = pool[keep]
        todo = todo[keep.sum(axis=1) < want[todo]]
    filled = shown >= 0
    shown[filled] = styles.item[np.broadcast_to(lo[:, None], shown.shape)[filled] + shown[filled]]
    return shown


def _zipf_weights(n: int, skew: float) -> np.ndarray:
    """The chance of each rank in [0, n) under ``_zipf``, up to a constant factor."""
    x = np.arange(1, n + 2, dtype=np.float64)  # rank r spans [r + 1, r + 2) before the floor
    return np.diff(np.log(x) if abs(skew - 1.0) < 1e-9 else x ** (1.0 - skew) / (1.0 - skew))


def _first_occurrences(values: np.ndarray) -> np.ndarray:
    """Per row, True where a value (>= 0) appears for the first time from the left."""
    order = np.argsort(values, axis=1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=1)
    new = np.ones(values.shape, dtype=bool)
    new[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first = np.empty_like(new)
    np.put_along_axis(first, order, new, axis=1)
    return first & (values >= 0)


def generate(config: SynthConfig) -> pa.Table:
    """The event log of ``config``'s world: string ids, int64 unix seconds, sorted by (user, time).

    Columns are ``COLUMNS``, then those of ``EXTRA_COLUMNS`` whose knob is on (nullable strings);
    ids are zero-padded, so string order is numeric order and every user's events are
    contiguous. The same config always gives the same table.
    """
    world = _world(config)
    styles = _styles(config, world) if config.listing_size else None
    item_ids = _ids("i", config.items, 6)
    parts, listings = [], []
    for b, lo in enumerate(range(0, config.users, _BATCH_USERS)):
        users = np.arange(lo, min(lo + _BATCH_USERS, config.users))
        parts.append(_batch(config, world, styles, users, b))
        if styles is not None:  # built per batch: a string array's offsets are 32-bit
            listings.append(_impressions(item_ids, *parts[-1][-2:]))
    user, item, interaction, timestamp, query, _, _ = (
        np.concatenate(cols) for cols in zip(*parts, strict=True)
    )
    category_ids = _ids("c", config.categories, 3)
    columns: list[pa.Array | pa.ChunkedArray] = [
        _ids("u", config.users, 6).take(user),
        item_ids.take(item),
        pa.array(LABELS, pa.string()).take(interaction),
        pa.array(timestamp, pa.int64()),
        category_ids.take(world.item_category[item]),
    ]
    names = list(COLUMNS)
    if config.shops:
        columns.append(_ids("s", config.shops, 4).take(_item_shops(config, world)[item]))
        names.append("shop_id")
    if config.search_rate:
        phrases = [t.format(c) for c in category_ids.to_pylist() for t in QUERY_TEMPLATES]
        columns.append(pa.array(phrases, pa.string()).take(pa.array(query, mask=query < 0)))
        names.append("query")
    if listings:
        columns.append(pa.chunked_array(listings, pa.string()))
        names.append("impressions")
    return pa.table(columns, names=names)


def _impressions(item_ids: pa.Array, n_shown: np.ndarray, shown: np.ndarray) -> pa.Array:
    """The impressions column: each event's shown items ``|``-joined, null where there are none."""
    offsets = np.concatenate([[0], np.cumsum(n_shown)]).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), item_ids.take(pa.array(shown)))
    text = pc.binary_join(lists, IMPRESSION_SEPARATOR)
    return pc.if_else(pa.array(n_shown > 0), text, pa.scalar(None, pa.string()))


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
