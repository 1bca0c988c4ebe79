"""What the inspector page (``/inspect``) shows that no ``/v1`` route answers.

The page gets neighbours and modules from the public routes themselves, so an engineer sees
exactly what a client gets; this module adds the rest, read-only: a summary of the served
version (its manifest's data, training and index figures, and its offline evaluation when
``versions/<version>/evaluation/`` holds one), what the model knows of a list of items (their
categories and pairs), and a user's raw history lists. Nothing here takes a path or a Redis
key from its caller: evaluation files are looked up by name among the fixed list the trainer
writes (``contracts.artifacts.EVALUATION_PLOTS``, the report) in the *served* version's folder,
and user ids go through ``HistoryStore``, which checks them before building a key.
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from contracts import artifacts
from contracts.interactions import Interaction
from service.history import HistoryStore
from service.model import Model

EVALUATION_FILES = {
    **{name: "image/png" for name in artifacts.EVALUATION_PLOTS},
    artifacts.EVALUATION_REPORT: "text/markdown; charset=utf-8",
}
"""The evaluation files the inspector serves, with their media types: nothing else, ever."""
MAX_EVALUATION_BYTES = 16 * 1024 * 1024  # a report, a plot or metrics.json is well under this
HEADLINE_KS = (50,)  # the K the headline shows beside the largest one (docs/evaluation.md's)


class NoSuchFile(LookupError):
    """The served version has no evaluation file by that name (or the name is not one)."""


@dataclass(frozen=True)
class ItemFacts:
    """What the served model knows of one item: its category and the interactions it has a
    pair vector for (empty: only its no-interaction vector). ``known`` false: an item the
    model never saw; its category then comes from Redis's item-category hash, if any."""

    item_id: str
    known: bool
    category_id: str | None
    pairs: list[str]


@dataclass(frozen=True)
class Headline:
    """The evaluation's main table: hit rate (%) per model for each (target, K) column, and
    the share of test items each model covers (%)."""

    columns: list[tuple[str, int]]
    rows: list[dict[str, Any]]  # {"model", "hit_rate": [% or None per column], "coverage"}


@dataclass(frozen=True)
class EvaluationSummary:
    """A version's offline evaluation, as far as its files allow (``problem`` says what is
    missing or broken; the page shows it instead of failing)."""

    title: str | None = None
    split: dict[str, Any] = field(default_factory=dict)
    headline: Headline | None = None
    plots: list[str] = field(default_factory=list)
    report: bool = False
    problem: str | None = None


@dataclass(frozen=True)
class VersionSummary:
    """The served version at a glance: its manifest without the file list, what this
    instance loaded of it, and its evaluation (None: the version folder has none)."""

    version: str
    created_at: str
    dim: int
    similarity: str
    data: dict[str, Any]
    training: dict[str, Any]
    indexes: list[dict[str, Any]]
    tables: list[dict[str, Any]]
    blend: dict[str, Any] | None
    chosen: dict[str, Any]
    config: dict[str, Any]
    files: dict[str, int]
    targets: list[str]  # what a neighbours request may ask for: interactions, entity kinds
    evaluation: EvaluationSummary | None


@dataclass(frozen=True)
class UserLists:
    """A user's history as Redis holds it, newest first, each item as the model knows it."""

    user_id: str
    model_version: str
    lists: dict[str, list[ItemFacts]]


@dataclass(frozen=True)
class EvaluationFile:
    content: bytes
    media_type: str


def version_summary(model: Model, artifacts_dir: Path) -> VersionSummary:
    """The served version's summary (reads its evaluation folder: call off the event loop)."""
    manifest = model.manifest
    live, files = set(model.indexes), manifest.files.values()
    return VersionSummary(
        version=model.version,
        created_at=manifest.created_at.isoformat(),
        dim=manifest.dim,
        similarity=manifest.similarity,
        data=manifest.data.model_dump(mode="json", exclude_none=True),
        training={name: t.model_dump(mode="json") for name, t in manifest.training.items()},
        indexes=[
            {**i.model_dump(mode="json", exclude={"file"}), "live": i.name in live}
            for i in manifest.indexes
            if i.similarity == manifest.similarity
        ],
        tables=[
            t.model_dump(mode="json", include={"seed", "target", "k", "rows"})
            for t in manifest.neighbor_tables
            if t.similarity == manifest.similarity
        ],
        blend=None if manifest.blend is None else manifest.blend.model_dump(mode="json"),
        chosen=manifest.chosen,
        config=manifest.config,
        files={"count": len(manifest.files), "bytes": sum(f.bytes for f in files)},
        targets=[i.label for i in Interaction] + sorted(model.entity_kinds),
        evaluation=evaluation_summary(_evaluation_dir(artifacts_dir, model.version)),
    )


def evaluation_summary(folder: Path) -> EvaluationSummary | None:
    """What ``folder`` (a version's ``evaluation/``) holds; None when it does not exist."""
    if not folder.is_dir():
        return None
    report = folder / artifacts.EVALUATION_REPORT
    found = EvaluationSummary(
        title=_title(report) if report.is_file() else None,
        plots=[name for name in artifacts.EVALUATION_PLOTS if (folder / name).is_file()],
        report=report.is_file(),
    )
    try:
        metrics = json.loads(_read(folder / artifacts.EVALUATION_METRICS))
    except NoSuchFile:
        return replace(found, problem=f"no readable {artifacts.EVALUATION_METRICS}")
    except ValueError:
        return replace(found, problem=f"{artifacts.EVALUATION_METRICS} is not valid JSON")
    headline = headline_table(metrics)
    split = _get(metrics, "split")
    scalars = {
        str(k): v
        for k, v in (split.items() if isinstance(split, dict) else ())
        if isinstance(v, str | int | float | bool | None)
    }
    problem = None if headline else f"{artifacts.EVALUATION_METRICS} has no hit rates"
    return replace(found, split=scalars, headline=headline, problem=problem)


def headline_table(metrics: object) -> Headline | None:
    """Hit rate (%) of every model per target at K = 50 and the largest K, and item coverage,
    from ``metrics.json`` (its shape: trainer/evaluation/results.py); None if it has none.
    Tolerant: a cell the file lacks is None, anything that is not a number too."""
    models = _get(metrics, "models")
    if not isinstance(models, dict) or not models:
        return None
    rates = _get(next(iter(models.values())), "hit_rate")
    if not isinstance(rates, dict) or not rates:
        return None
    ks = sorted({int(k) for by_k in rates.values() if isinstance(by_k, dict) for k in by_k
                 if str(k).isascii() and str(k).isdigit()})  # fmt: skip
    if not ks:
        return None
    shown = [k for k in HEADLINE_KS if k in ks and k != ks[-1]] + [ks[-1]]
    columns = [(str(target), k) for target in rates for k in shown]
    rows = []
    for name, result in models.items():
        hit = _get(result, "hit_rate")
        cells = [_percent(_get(_get(hit, t), str(k))) for t, k in columns]
        coverage = _percent(_get(_get(result, "coverage"), "items"))
        rows.append({"model": str(name), "hit_rate": cells, "coverage": coverage})
    return Headline(columns, rows)


def evaluation_file(model: Model, artifacts_dir: Path, name: str) -> EvaluationFile:
    """One of ``EVALUATION_FILES`` from the served version's evaluation; NoSuchFile for any
    other name or a file the version does not have (call off the event loop)."""
    media_type = EVALUATION_FILES.get(name)
    if media_type is None:
        raise NoSuchFile("not an evaluation file")
    content = _read(_evaluation_dir(artifacts_dir, model.version) / name)
    return EvaluationFile(content, media_type)


def describe_items(model: Model, item_ids: list[str]) -> list[ItemFacts]:
    """What the model knows of each item, in the order asked (unknown ones included)."""
    return [_facts(model, item_id, None) for item_id in item_ids]


async def user_history(store: HistoryStore, model: Model, user_id: str, length: int) -> UserLists:
    """Every list of the user's history (up to ``length`` items each), with what the model
    knows of each item; items the model never saw take their category from Redis's hash.
    Two round trips at most; HistoryUnavailable when Redis fails, ValueError for a bad id."""
    history = await store.read(user_id, seeds=length, purchases=length)
    lists = {
        Interaction.VIEW.label: history.views,
        Interaction.FAVORITE.label: history.favorites,
        Interaction.CART.label: history.carts,
        Interaction.PURCHASE.label: history.purchases,
    }
    listed = list(dict.fromkeys(i for items in lists.values() for i in items))
    unknown = [i for i, row in zip(listed, model.rows_of(listed).tolist(), strict=True) if row < 0]
    categories = await store.categories(unknown) if unknown else {}
    described = {
        label: [_facts(model, item, categories.get(item)) for item in items]
        for label, items in lists.items()
    }
    return UserLists(user_id, model.version, described)


def _facts(model: Model, item_id: str, fallback_category: str | None) -> ItemFacts:
    row = model.row_of(item_id)
    if row is None:
        return ItemFacts(item_id, False, fallback_category, [])
    tokens = model.item_token[row]
    pairs = [i.label for i in Interaction if tokens[int(i)] >= 0]
    return ItemFacts(item_id, True, model.category_of(row), pairs)


def _evaluation_dir(artifacts_dir: Path, version: str) -> Path:
    return artifacts.version_dir(artifacts_dir, version) / artifacts.EVALUATION


def _read(path: Path) -> bytes:
    """A regular file's bytes, at most MAX_EVALUATION_BYTES; NoSuchFile otherwise (opened
    without blocking, so that a FIFO by that name cannot hold a thread)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise NoSuchFile("not a readable evaluation file") from exc
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_EVALUATION_BYTES:
            raise NoSuchFile("not a readable evaluation file")
        try:
            return f.read(MAX_EVALUATION_BYTES)
        except OSError as exc:
            raise NoSuchFile("not a readable evaluation file") from exc


def _title(report: Path) -> str | None:
    """The report's first heading (``# Offline evaluation of version …``)."""
    try:
        with open(report, encoding="utf-8", errors="replace") as f:
            first = f.readline(300).strip()
    except OSError:
        return None
    if not first.startswith("#"):
        return None
    return first.lstrip("#").strip() or None


def _get(mapping: object, key: str) -> object:
    return mapping.get(key) if isinstance(mapping, dict) else None


def _percent(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return round(100 * float(value), 2)
