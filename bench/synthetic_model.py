"""A servable artifact version of a chosen size, published without training.

    python bench/synthetic_model.py --out bench/results/model-1000000 --pairs 1000000
    python bench/synthetic_model.py --out bench/results/model-50000 --pairs 50000   # quick
    python bench/synthetic_model.py --out bench/results/model-1000000 --no-tables

The vectors are clustered random float32 (category centroids + item noise + a small offset per
interaction), so that HNSW graphs and their recall behave roughly as on trained embeddings while
costing nothing to "train". The pairs are split like an e-commerce log: of every 100 pairs, 60
are views, 20 carts, 12 favorites and 8 purchases, over 0.65 items per pair; popular items get
the rarer interactions. The version is written through the same contract code as the trainer's
(``contracts.artifacts.stage_version``, ``contracts.catalog``) and its indexes by the trainer's
own ``trainer.index.build_indexes`` with the trainer's defaults (M=64, ef_construction=128,
ef_search=256, recall@10 on 1,000 sampled queries) and its neighbour tables by the trainer's
``trainer.neighbors.build_tables_for`` (``index.tables``, ``index.table_k``; ``--no-tables``
leaves them out), so it passes ``verify_version`` and ``service.model.load_model`` like a
trained one. The manifest says it is synthetic (``data.source`` and ``extra.synthetic``).

Building the 1M-pair model's ~1.65M-element indexes took 28 min and its tables 10 min on a
shared 2-core machine (progress on stderr), so ``--out`` is a cache: when it already holds a
synthetic version of the requested ``--pairs`` and ``--seed`` that verifies, that version is
made CURRENT and reused. ``derive_version`` publishes a copy of a version under a new id (hard
links, seconds): a second version for reload tests, or one with the tables added or left out.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Collection
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from contracts import artifacts
from contracts.catalog import Catalog
from contracts.interactions import Interaction
from contracts.popular import Popular
from contracts.published import write_model_files

SHARE = {Interaction.VIEW: 0.60, Interaction.CART: 0.20, Interaction.FAVORITE: 0.12}
"""Fraction of all pairs per interaction; purchases take the rest (0.08)."""
ITEMS_PER_PAIR = 0.65
CATEGORIES = 2000
DIM = 100  # the trainer's default (the paper's d)
CENTROID_SPREAD, ITEM_NOISE, PAIR_NOISE, INTERACTION_OFFSET = 1.0, 0.7, 0.35, 0.5
POPULAR_WEIGHTS = {"view": 1.0, "favorite": 2.0, "cart": 3.0, "purchase": 5.0}


def write_world(folder: Path, world: dict[str, Any]) -> None:
    """The catalogue and the embeddings of a generated world, as a version's model files."""
    catalog = Catalog(
        item_ids=world["item_ids"],
        item_category=world["categories"],
        token_item=world["token_item"],
        token_interaction=world["token_interaction"],
        token_count=world["token_count"],
    )
    vectors = [world[name] for name in ("pairs_in", "pairs_out", "items_in", "items_out")]
    write_model_files(folder, catalog, (vectors[0], vectors[1]), (vectors[2], vectors[3]))


def log(message: str) -> None:
    print(f"[synthetic {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ensure_version(
    out: Path, pairs: int, seed: int = 1, threads: int = 0, tables: bool = True
) -> str:
    """The id of a synthetic version of ``pairs`` pairs in ``out``, built only if not cached.

    ``tables``: whether the version holds the trainer's neighbour tables (``index.tables``). A
    cached version that differs only in its tables is copied with the missing ones built or
    all of them left out.
    """
    cached = find_cached(out, pairs, seed, tables)
    if cached is None:
        other = find_cached(out, pairs, seed, None)
        if other is not None:
            cached = derive_version(out, other, tables, threads)
    if cached is None:
        return publish(out, pairs, seed, threads, tables)
    if artifacts.read_current(out) != cached:
        artifacts.set_current(out, cached)
    log(f"using version {cached} ({pairs:,} pairs, tables {tables}) in {out}")
    return cached


def find_cached(
    out: Path, pairs: int, seed: int, tables: bool | None, sampled: bool = False
) -> str | None:
    """The newest version in ``out`` made by this script with these parameters, if it verifies.

    ``tables``: True wants exactly the trainer's default tables, False none, None any.
    ``sampled``: a version of ``publish_sampled`` (else one of ``publish``).
    """
    from trainer.config import TrainConfig

    wanted = set(_table_names(TrainConfig())) if tables else set()
    for version in reversed(artifacts.list_versions(out)):
        folder = artifacts.version_dir(out, version)
        try:
            manifest = artifacts.verify_version(folder, check_hashes=False)
        except artifacts.ArtifactError:
            continue
        made = manifest.extra.get("synthetic", {})
        same = made.get("pairs") == pairs and made.get("seed") == seed
        same = same and bool(made.get("sampled")) == sampled
        found = {f"{t.seed}>{t.target}" for t in manifest.neighbor_tables}
        if same and (tables is None or found == wanted):
            return version
    return None


def publish(out: Path, pairs: int, seed: int = 1, threads: int = 0, tables: bool = True) -> str:
    """Generate, index and publish a synthetic version of ``pairs`` pairs; return its id."""
    from trainer.config import TrainConfig
    from trainer.index import IndexSource, build_indexes, pair_sources

    started = time.perf_counter()
    config = TrainConfig()
    world = generate(pairs, seed)
    log(
        f"{world['n_items']:,} items, {len(world['token_item']):,} pairs "
        f"{world['pairs_per_interaction']} in {time.perf_counter() - started:.1f}s"
    )
    with artifacts.stage_version(out) as stage:
        folder = stage.path
        write_world(folder, world)
        sources = pair_sources(world["token_interaction"], world["pairs_in"], world["pairs_out"])
        item_rows = np.arange(world["n_items"], dtype=np.int64)
        sources.append(
            IndexSource(artifacts.ITEM_INDEX, item_rows, world["items_in"], world["items_out"])
        )
        total = sum(len(s.labels) for s in sources)
        done, indexes, index_started = 0, [], time.perf_counter()
        for source in sources:
            t0 = time.perf_counter()
            indexes += build_indexes([source], folder, config.index, threads, seed, False)
            done += len(source.labels)
            rate = done / (time.perf_counter() - index_started)
            log(
                f"index {source.name}: {len(source.labels):,} vectors in "
                f"{time.perf_counter() - t0:.0f}s, recall {indexes[-1].recall}; "
                f"{done:,}/{total:,} done, ~{(total - done) / rate:.0f}s to go"
            )
        world["popular"].write(folder / artifacts.POPULAR)
        fields = manifest_fields(world, config.model_dump(mode="json"), indexes, seed)
        if tables:
            tokens = np.stack([world["token_item"], world["token_interaction"]], axis=1)
            fields["neighbor_tables"], seconds = build_tables(folder, indexes, tokens, threads)
            fields["extra"]["synthetic"]["tables_seconds"] = seconds
        fields["extra"]["synthetic"]["build_seconds"] = round(time.perf_counter() - started, 1)
        version = stage.publish(fields, keep=None)
    log(f"published {version} into {out} in {time.perf_counter() - started:.0f}s")
    return version


def derive_version(out: Path, source: str, tables: bool | None = None, threads: int = 0) -> str:
    """Publish a copy of ``source`` under a new id (files hard-linked) and make it CURRENT.

    ``tables``: None keeps the source's neighbour tables, False leaves them out, True builds
    those of the trainer's default ``index.tables`` that the source lacks. The service treats
    the copy as any new version: it verifies every sha256, loads and warms it.
    """
    origin = artifacts.version_dir(out, source)
    manifest = artifacts.verify_version(origin, check_hashes=False)
    keep_tables = tables is not False
    with artifacts.stage_version(out) as stage:
        for name in manifest.files:
            if name.startswith("neighbors/") and not keep_tables:
                continue
            target = stage.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(origin / name, target)
        fields = manifest.model_dump(
            mode="json", exclude={"schema_version", "version", "created_at", "files"}
        )
        fields["extra"] = {**fields["extra"], "derived_from": source}
        if not keep_tables:
            fields["neighbor_tables"] = []
        elif tables:
            have = {f"{t.seed}>{t.target}" for t in manifest.neighbor_tables}
            tokens = np.load(origin / artifacts.TOKENS)
            found, seconds = build_tables(
                stage.path, list(manifest.indexes), tokens, threads, skip=have
            )
            fields["neighbor_tables"] += [t.model_dump(mode="json") for t in found]
            fields["extra"]["synthetic"] = {
                **fields["extra"]["synthetic"],
                "tables_seconds": seconds,
            }
        return stage.publish(fields, keep=6)


def build_tables(
    folder: Path,
    indexes: list[Any],
    tokens: np.ndarray,
    threads: int,
    skip: Collection[str] = (),
) -> tuple[list[Any], float]:
    """The trainer's neighbour tables (``index.tables``, ``index.table_k``) but ``skip``."""
    from trainer.config import TrainConfig
    from trainer.neighbors import build_tables_for

    started = time.perf_counter()
    n_items = len(np.load(folder / artifacts.ITEMS_IN, mmap_mode="r"))
    vocab = SimpleNamespace(token_interaction=tokens[:, 1], n_items=n_items)
    wanted = [t for t in _table_names(TrainConfig()) if t not in skip]
    config = TrainConfig().with_overrides({"index": {"tables": wanted}})
    threads = threads if threads > 0 else os.cpu_count() or 1
    found = build_tables_for(folder, indexes, vocab, config, threads, has_items=True)  # type: ignore[arg-type]
    seconds = round(time.perf_counter() - started, 1)
    log(f"neighbour tables {config.index.tables} (k={config.index.table_k}) in {seconds}s")
    return found, seconds


def _table_names(config: Any) -> list[str]:
    """The trainer's default tables but ``cold>…``: this world publishes no cold vectors."""
    return [t for t in config.index.tables if not t.startswith(f"{artifacts.COLD}>")]


def generate(pairs: int, seed: int, dim: int = DIM) -> dict[str, Any]:
    """Items, pairs, vectors (of ``dim``) and popular items of a synthetic world with about
    ``pairs`` pairs."""
    rng = np.random.default_rng(seed)
    n_items = max(int(pairs * ITEMS_PER_PAIR), 10)
    counts = {i: int(pairs * share) for i, share in SHARE.items()}
    counts[Interaction.PURCHASE] = pairs - sum(counts.values())
    # Item rows are ordered by popularity, as the trainer's vocabulary orders them.
    popularity = np.sort(rng.pareto(1.2, n_items) + 1.0)[::-1]
    category = rng.integers(0, CATEGORIES, n_items)

    viewed = _draw(rng, popularity, np.arange(n_items), counts[Interaction.VIEW])
    carted = _draw(rng, popularity, viewed, counts[Interaction.CART])
    favorited = _draw(rng, popularity, viewed, counts[Interaction.FAVORITE])
    bought = _draw(rng, popularity, carted, counts[Interaction.PURCHASE])
    chosen = {
        Interaction.VIEW: viewed,
        Interaction.FAVORITE: favorited,
        Interaction.CART: carted,
        Interaction.PURCHASE: bought,
    }
    rate = {Interaction.VIEW: 1.0, Interaction.FAVORITE: 0.05}
    rate |= {Interaction.CART: 0.08, Interaction.PURCHASE: 0.02}
    token_item = np.concatenate([chosen[i] for i in Interaction])
    token_interaction = np.concatenate([np.full(len(chosen[i]), int(i)) for i in Interaction])
    token_count = np.concatenate(
        [1 + rng.poisson(popularity[chosen[i]] * rate[i] * 3) for i in Interaction]
    ).astype(np.int64)
    order = np.lexsort((token_interaction, token_item, -token_count))
    token_item, token_interaction = token_item[order], token_interaction[order]
    token_count = token_count[order]

    centroids = rng.normal(0, CENTROID_SPREAD, (CATEGORIES, dim)).astype(np.float32)
    offsets = rng.normal(0, INTERACTION_OFFSET, (len(Interaction), dim)).astype(np.float32)
    base = centroids[category] + _noise(rng, n_items, dim, ITEM_NOISE)
    pairs_in = base[token_item] + offsets[token_interaction] + _noise(rng, len(token_item), dim)
    pairs_out = pairs_in + _noise(rng, len(token_item), dim)
    items_in = base + _noise(rng, n_items, dim)
    items_out = items_in + _noise(rng, n_items, dim)

    weights = np.array([POPULAR_WEIGHTS[i.label] for i in Interaction])
    score = np.bincount(token_item, token_count * weights[token_interaction], n_items)
    item_ids = [str(100_000 + row) for row in range(n_items)]
    return {
        "n_items": n_items,
        "item_ids": item_ids,
        "categories": [str(c) for c in category],
        "token_item": token_item,
        "token_interaction": token_interaction,
        "token_count": token_count,
        "pairs_in": pairs_in,
        "pairs_out": pairs_out,
        "items_in": items_in,
        "items_out": items_out,
        "popular": _popular(score, category, item_ids),
        "pairs_per_interaction": {i.label: len(chosen[i]) for i in Interaction},
    }


def _draw(
    rng: np.random.Generator, popularity: np.ndarray, among: np.ndarray, n: int
) -> np.ndarray:
    """``n`` distinct items of ``among``, more likely the more popular (Gumbel top-k)."""
    n = min(n, len(among))
    keys = np.log(popularity[among]) + rng.gumbel(size=len(among))
    return np.sort(among[np.argpartition(-keys, n - 1)[:n]])


def _noise(rng: np.random.Generator, n: int, dim: int, scale: float = PAIR_NOISE) -> np.ndarray:
    return (rng.standard_normal((n, dim), dtype=np.float32) * np.float32(scale)).astype(np.float32)


def _popular(score: np.ndarray, category: np.ndarray, item_ids: list[str]) -> Popular:
    """The popular lists (``popular/``, arrays): the top 500 overall and the top 100 per
    category, ranked as the trainer ranks them."""
    from trainer.config import PopularConfig
    from trainer.popular import rank_popular

    config = PopularConfig(top_overall=500, top_per_category=100)
    category_ids = np.array([str(c) for c in range(CATEGORIES)], dtype=object)
    return rank_popular(score, category, np.array(item_ids, dtype=object), category_ids, config)


def manifest_fields(
    world: dict[str, Any], config: dict[str, Any], indexes: list[Any], seed: int
) -> dict[str, Any]:
    """Every manifest field the trainer's ``write_trained`` fills, with synthetic values."""
    tokens = int(world["token_count"].sum())
    per_interaction = world["pairs_per_interaction"]
    stats = {"tokens": tokens, "seconds": 0.0, "threads": 1, "epochs": 0}
    stats |= {"compile_seconds": 0.0, "tokens_per_second": 0.0}
    now = int(time.time())
    return {
        "config": config,
        "data": {
            "source": "synthetic (bench/synthetic_model.py)",
            "rows_read": tokens,
            "events": tokens,
            "bad_rows": {},
            "ignored_rows": {},
            "out_of_window": 0,
            "users": 0,
            "time_range": [now - 30 * 86400, now],
            "sessions": 0,
            "sessions_dropped_short": 0,
            "session_pairs": tokens,
            "items": world["n_items"],
            "pairs": len(world["token_item"]),
            "pairs_per_interaction": per_interaction,
            "categories": CATEGORIES,
        },
        "dim": int(world["pairs_in"].shape[1]),
        "similarity": config["index"]["similarity"],
        "training": {"pairs": stats, "items": stats},
        "indexes": indexes,
        "extra": {
            "synthetic": {
                "pairs": len(world["token_item"]),
                "items": world["n_items"],
                "seed": seed,
                "categories": CATEGORIES,
            }
        },
    }


SAMPLED_DIM = 8
SAMPLED_INDEX = 2_000


def ensure_sampled(out: Path, pairs: int, seed: int = 1, table_k: int = 16) -> str:
    """A ``publish_sampled`` version of ``pairs`` pairs in ``out`` (built if not cached)."""
    cached = find_cached(out, pairs, seed, None, sampled=True)
    if cached is None:
        return publish_sampled(out, pairs, seed, table_k)
    if artifacts.read_current(out) != cached:
        artifacts.set_current(out, cached)
    log(f"using sampled version {cached} ({pairs:,} pairs) in {out}")
    return cached


def publish_sampled(out: Path, pairs: int, seed: int = 1, table_k: int = 16) -> str:
    """A version for measuring what a worker holds with ``LIVE_INDEXES=none``, in minutes at
    any size: the world's full catalogue (item ids, categories, pairs) and popular items, the
    trainer's default neighbour tables (``view>view``, ``cart>cart``, ``item>item``: one row
    per seed, ``table_k`` random neighbours each), vectors of dimension SAMPLED_DIM, and each
    index built over its first SAMPLED_INDEX vectors only (listed so the version loads; a
    worker with ``LIVE_INDEXES=none`` never opens them). Its answers are meaningless; its
    catalogue, tables and request path cost what a trained version's do."""
    from trainer.config import TrainConfig
    from trainer.index import IndexSource, build_indexes, pair_sources

    started = time.perf_counter()
    config = TrainConfig()
    world = generate(pairs, seed, SAMPLED_DIM)
    rng = np.random.default_rng(seed + 1)
    log(f"{world['n_items']:,} items, {len(world['token_item']):,} pairs (sampled)")
    with artifacts.stage_version(out) as stage:
        folder = stage.path
        write_world(folder, world)
        n = SAMPLED_INDEX
        sources = [
            IndexSource(s.name, s.labels[:n], s.input, s.output)
            for s in pair_sources(world["token_interaction"], world["pairs_in"], world["pairs_out"])
        ]
        item_rows = np.arange(min(n, world["n_items"]), dtype=np.int64)
        sources.append(
            IndexSource(artifacts.ITEM_INDEX, item_rows, world["items_in"], world["items_out"])
        )
        indexes = build_indexes(sources, folder, config.index, 1, seed, False)
        world["popular"].write(folder / artifacts.POPULAR)
        fields = manifest_fields(world, config.model_dump(mode="json"), indexes, seed)
        seeds = {
            (Interaction.VIEW.label, Interaction.VIEW.label): np.flatnonzero(
                world["token_interaction"] == Interaction.VIEW
            ),
            (Interaction.CART.label, Interaction.CART.label): np.flatnonzero(
                world["token_interaction"] == Interaction.CART
            ),
            (artifacts.ITEM_INDEX, artifacts.ITEM_INDEX): np.arange(world["n_items"]),
        }
        fields["neighbor_tables"] = [
            _random_table(
                folder,
                seed_name,
                target,
                keys.astype(np.int64),
                world["n_items"],
                table_k,
                rng,
                config.index.similarity,
            )
            for (seed_name, target), keys in seeds.items()
        ]
        fields["extra"]["synthetic"] |= {
            "sampled": True,
            "index_sample": n,
            "table_k": table_k,
            "build_seconds": round(time.perf_counter() - started, 1),
        }
        version = stage.publish(fields, keep=None)
    log(f"published sampled {version} into {out} in {time.perf_counter() - started:.0f}s")
    return version


def _random_table(
    folder: Path,
    seed: str,
    target: str,
    keys: np.ndarray,
    n_items: int,
    k: int,
    rng: np.random.Generator,
    similarity: str,
) -> dict[str, Any]:
    """A neighbour table of ``keys`` (sorted) with ``k`` random item rows each, best first."""
    paths = artifacts.neighbor_table_paths(seed, target)
    (folder / paths[0]).parent.mkdir(parents=True, exist_ok=True)
    items = rng.integers(0, n_items, (len(keys), k), dtype=np.int32)
    scores = (1.0 - np.sort(rng.random((len(keys), k), dtype=np.float32), axis=1)).astype(
        np.float16
    )
    for path, array in zip(paths, (keys, items, scores), strict=True):
        np.save(folder / path, array)
    return {
        "seed": seed,
        "target": target,
        "k": k,
        "rows": len(keys),
        "similarity": similarity,
        "tokens": paths[0],
        "items": paths[1],
        "scores": paths[2],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="artifacts folder (a cache)")
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="index build threads; 0: all")
    parser.add_argument("--no-tables", action="store_true", help="without neighbour tables")
    parser.add_argument(
        "--sampled", action="store_true", help="publish_sampled: for LIVE_INDEXES=none, fast"
    )
    args = parser.parse_args()
    if args.sampled:
        print(ensure_sampled(args.out, args.pairs, args.seed))
        return
    print(ensure_version(args.out, args.pairs, args.seed, args.threads, not args.no_tables))


if __name__ == "__main__":
    main()
