"""Every training hyper-parameter in one place, with the reason for its default.

A run's full config is written into the manifest of the version it publishes. Values come from
the defaults below, then a TOML file (same section names), then command-line flags.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from contracts.artifacts import COLD, ITEM_INDEX
from contracts.catalog import ENTITY_KINDS
from contracts.interactions import LABELS, Interaction

T = TypeVar("T", int, float)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataConfig(_Section):
    """How to read the event log."""

    format: Literal["auto", "csv", "parquet", "jsonl"] = "auto"  # auto: by file extension
    # canonical: our schema; the others read public datasets in their original layout.
    adapter: Literal["canonical", "taobao", "tmall", "rees46", "retailrocket"] = "canonical"
    # A dataset's own interaction names → canonical ones (added to the adapter's own map).
    interaction_map: dict[str, str] = Field(default_factory=dict)
    on_bad_rows: Literal["skip", "fail"] = "skip"  # skip: count, report, go on
    since: datetime | None = None  # keep events at or after this instant
    until: datetime | None = None  # keep events strictly before this instant
    # The blog's seasonal window: also keep the same calendar window one year earlier, extended
    # by this many days (a December model also learns from last December and January). Needs
    # since and until.
    previous_year_days: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _season_needs_a_window(self) -> DataConfig:
        if self.previous_year_days is not None and (self.since is None or self.until is None):
            raise ValueError("previous_year_days needs since and until (the window it repeats)")
        return self

    def previous_year_window(self) -> tuple[datetime, datetime] | None:
        """[since, until + previous_year_days) one calendar year earlier, if asked for."""
        if self.previous_year_days is None or self.since is None or self.until is None:
            return None
        lookahead = timedelta(days=self.previous_year_days)
        return _year_before(self.since), _year_before(self.until) + lookahead

    @field_validator("interaction_map")
    @classmethod
    def _canonical_targets(cls, value: dict[str, str]) -> dict[str, str]:
        return {k: Interaction.parse(v).label for k, v in value.items()}


def _per_interaction(
    value: dict[str, Any], cast: Callable[[Any], T], minimum: T, what: str
) -> dict[str, T]:
    """Every canonical interaction → its value in ``value`` (names parsed), else 1."""
    parsed = {Interaction.parse(k).label: cast(v) for k, v in value.items()}
    if any(v < minimum for v in parsed.values()):
        raise ValueError(f"{what} values must be >= {minimum}")
    return {label: parsed.get(label, cast(1)) for label in LABELS}


def _year_before(moment: datetime) -> datetime:
    """The same calendar instant a year earlier (29 February → 28 February)."""
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:
        return moment.replace(year=moment.year - 1, day=28)


class SessionConfig(_Section):
    """How events become sessions (the paper's sentences)."""

    gap_minutes: float = Field(30.0, gt=0)  # the usual web-analytics inactivity cut
    min_pairs: int = Field(4, ge=2)  # the paper drops sessions of 3 or fewer pairs (bounces)
    # A reload or a double click repeats the same (item, interaction): it is not a new pair.
    dedupe_consecutive: bool = True


class VocabConfig(_Section):
    """Which tokens get an embedding."""

    # The blog: thresholds per token type work better than one cut. Carts and purchases are
    # rare and precious, so every one is kept. Views too (tuned, docs/experiments.md): hit rate
    # was level on both validation splits, and an item without a view vector can never seed
    # the "viewed" module (Taobao: 13 % → 27 % of test items). Raise it if memory demands.
    min_count: dict[str, int] = Field(
        default_factory=lambda: {"view": 1, "favorite": 1, "cart": 1, "purchase": 1}
    )
    item_min_count: int = Field(1, ge=1)  # the no-interaction model's item tokens

    @field_validator("min_count")
    @classmethod
    def _all_interactions(cls, value: dict[str, int]) -> dict[str, int]:
        return _per_interaction(value, int, 1, "min_count")


class SGNSConfig(_Section):
    """Skip-gram with negative sampling (the paper's section 4.2 where it says, word2vec's else)."""

    dim: int = Field(100, ge=2, le=1024)  # paper: d = 100
    window: int = Field(5, ge=1)  # paper: m = 5, word2vec's sampled shrinking window
    negatives: int = Field(5, ge=0)  # paper: five random negatives
    # Draw a target's random negatives once and share them by all the contexts of its window
    # (Ji et al. 2016, "Parallelizing word2vec in shared and distributed memory"): the same
    # quality, and the negatives' vectors stay in cache — the kernel's main cost is memory.
    shared_negatives: bool = True
    ns_exponent: float = 0.75  # word2vec's unigram^0.75 noise distribution
    sample: float = Field(1e-3, ge=0)  # frequent-token subsampling; 0 turns it off
    alpha: float = Field(0.025, gt=0)  # word2vec's starting learning rate for skip-gram
    min_alpha: float = Field(1e-4, ge=0)  # linear decay ends here
    # "auto": train (and evaluate) choose on a validation split carved from the training
    # window ([auto], trainer/auto.py), starting from ``auto_passes`` passes over the mean pair
    # token; fit alone (no validation split) takes that starting point. No constant fits every
    # log: 5 left Taobao's vectors near their random start, 80 hurt the synthetic log.
    epochs: int | Literal["auto"] = "auto"
    auto_passes: float = Field(40.0, gt=0)  # epochs ≈ this / mean occurrences of a pair token
    auto_max_epochs: int = Field(160, ge=1)
    # "independent": the paper's, one free input vector per (item, interaction); "item": item
    # vector + the pair's own, so sparse pairs borrow from their item's other tokens;
    # "item_category": + the item's category vector too (trainer/sgns.py); "from_items":
    # independent, but every pair starts at its item's trained no-interaction vectors
    # (trainer/fit.py), so a sparse pair begins where its item's whole history put it.
    pair_vectors: Literal["independent", "item", "item_category", "from_items"] = "independent"
    seed: int = 1
    threads: int = Field(0, ge=0)  # 0: all cores; 1: bit-for-bit reproducible


class NegativesConfig(_Section):
    """The paper's custom negatives (section 4.1.1); docs/training.md says where they enter."""

    hierarchy: bool = True  # (ℓ, j) for every j above i with (ℓ, j) not in the session
    hierarchy_weight: float = Field(1.0, ge=0)
    taxonomy: bool = True  # (ℓ', view), ℓ' uniform from ℓ's category, for view-only items
    taxonomy_count: int = Field(2, ge=0)  # paper: two per view-only item
    taxonomy_weight: float = Field(1.0, ge=0)
    # The blog's implicit negatives: items shown above a click and skipped (the log's
    # impressions column) are negatives of the clicked pair, scored like the hierarchy ones.
    # On (docs/experiments.md "The blog's extensions"): +1.7 points on validation with category
    # tokens, though it costs purchase @200 1.7. A no-op for logs without impressions.
    implicit: bool = True
    implicit_weight: float = Field(1.0, ge=0)
    implicit_max: int = Field(10, ge=1)  # per click, the nearest to it in display order


class IndexConfig(_Section):
    """hnswlib indexes, one per candidate interaction (paper: efSearch 256, efC 128, M 64)."""

    similarity: Literal["cosine", "inner_product"] = "cosine"  # in·in cosine, or in·out (eq. 1)
    M: int = Field(64, ge=2)
    ef_construction: int = Field(128, ge=1)
    ef_search: int = Field(256, ge=1)
    recall_sample: int = Field(1000, ge=1)  # queries checked against brute force
    recall_k: int = Field(10, ge=1)
    # Top-k per seed pair computed offline (the paper's serving path): the service reads a
    # memory-mapped row instead of searching. "seed>target" pairs; match the service's modules.
    # "item>item": the no-interaction fallback of a seed item without the seed's pair.
    # "cold>…": a seed the model has never seen, by its category's vector (trainer/cold.py).
    tables: list[str] = Field(
        default_factory=lambda: ["view>view", "cart>cart", "item>item", "cold>view", "cold>cart"]
    )
    table_k: int = Field(128, ge=1)  # per seed; > the service's k per seed plus exclusions
    # A table is filled in independent row ranges (trainer/neighbors.py), written straight to
    # its files, so memory stays bounded by a range. More than one process splits the ranges
    # and the threads between processes that each load the index (docs/training.md): on one
    # machine hnswlib's threads already use every core, so 1 is the default there.
    table_processes: int = Field(1, ge=1)
    table_range_rows: int = Field(131_072, ge=1)  # rows of one range (~100 MB at table_k 128)

    @field_validator("tables")
    @classmethod
    def _seed_target_pairs(cls, value: list[str]) -> list[str]:
        pairs = []
        for entry in value:
            seed, sep, target = entry.partition(">")
            if not sep:
                raise ValueError(f"{entry!r}: write tables as 'seed>target', e.g. 'view>cart'")
            if ITEM_INDEX in (seed, target):
                if seed != target:
                    raise ValueError(
                        f"{entry!r}: item vectors only neighbour item vectors ('item>item')"
                    )
                pairs.append(entry)
                continue
            if seed != COLD:
                seed = Interaction.parse(seed).label
            pairs.append(f"{seed}>{Interaction.parse(target).label}")
        return list(dict.fromkeys(pairs))


class JourneysConfig(_Section):
    """The blog's extensions of the pair model's loss (issue 6; docs/training.md "Journeys").

    Off by default: docs/experiments.md "The blog's extensions" has the ablation that decided it.
    """

    # "Linear multi-touch attribution": every (ℓ, purchase) pair of a session is a positive
    # context of every other token of that session, window or not (Airbnb's booked listing).
    purchase_context: bool = False
    # Importance per interaction: a (context, target) pair's loss, negatives included, is
    # multiplied by w(context) · w(target).
    weights: dict[str, float] = Field(default_factory=lambda: dict.fromkeys(LABELS, 1.0))
    # ... and by this when the session holds a purchase (a journey that ended in one).
    purchase_session_weight: float = Field(1.0, ge=0)

    @field_validator("weights")
    @classmethod
    def _every_interaction(cls, value: dict[str, float]) -> dict[str, float]:
        return _per_interaction(value, float, 0.0, "interaction weight")


EntityKind = Literal["query", "category", "shop"]
_DEFAULT_KINDS: tuple[EntityKind, ...] = ("category",)


class EntitiesConfig(_Section):
    """The blog's entities beyond items: query, category and shop tokens in the pair space."""

    # Which kinds become tokens (the log needs a query / shop_id column for those two).
    # Category tokens win on both validation splits (Taobao +20 %, synthetic +8 %); query and
    # shop tokens lose 4 points on synthetic (they crowd the window: docs/experiments.md), so
    # turn them on for the entity neighbours endpoints, knowing that (with sgns.window = 8,
    # which wins back 1.5 of the points).
    kinds: list[EntityKind] = Field(default_factory=lambda: list(_DEFAULT_KINDS))
    # Per kind, as the blog: every shop is kept, rare queries are cut (typos, one-offs).
    min_count: dict[str, int] = Field(
        default_factory=lambda: {"query": 2, "category": 1, "shop": 1}
    )

    @field_validator("kinds")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("min_count")
    @classmethod
    def _every_kind(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = set(value) - set(ENTITY_KINDS)
        if unknown or any(v < 1 for v in value.values()):
            raise ValueError(f"min_count: kinds among {ENTITY_KINDS}, values >= 1; got {value}")
        return {kind: int(value.get(kind, 1)) for kind in ENTITY_KINDS}


ColdVector = Literal["category_token", "category_mean"]


class ColdConfig(_Section):
    """The vector of an item the model has never seen, from its category (trainer/cold.py)."""

    # "category_token": the category's learned token where it has one (category tokens are in
    # [entities] kinds), else the mean; "category_mean": the mean of the unit view vectors of
    # the category's items. The token wins on both validation splits (objective: Taobao 4.31 →
    # 5.59, synthetic 45.54 → 46.29; docs/experiments.md "Cold items").
    vector: ColdVector = "category_token"


POPULAR_WEIGHTS = {"view": 1.0, "favorite": 2.0, "cart": 3.0, "purchase": 5.0}


class PopularConfig(_Section):
    """The cold-start fallback: popular items overall and per category."""

    top_overall: int = Field(500, ge=1)
    # Deep enough to backfill a whole module of the evaluated K = 200 from one category.
    top_per_category: int = Field(200, ge=1)
    # A purchase says more than a view; score = sum of these weights over training events. A
    # partial table changes only the interactions it names.
    weights: dict[str, float] = Field(default_factory=lambda: dict(POPULAR_WEIGHTS))

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, Any]) -> dict[str, float]:
        parsed = {Interaction.parse(k).label: float(v) for k, v in value.items()}
        if any(not 0 <= v < float("inf") for v in parsed.values()):
            raise ValueError("popular weights must be finite and >= 0")
        return POPULAR_WEIGHTS | parsed


class AutoConfig(_Section):
    """What train and evaluate choose by themselves on a validation split (trainer/auto.py)."""

    # The validation split is the last ``validation_days`` of the training window (never the
    # test window of an evaluation); too few validation pairs and the choices fall back.
    validation_days: float = Field(1.0, gt=0)
    min_validation_pairs: int = Field(200, ge=1)
    budget_minutes: float = Field(10.0, gt=0)  # wall time of the epoch search's trainings
    # Validation is scored on a seeded sample of this many query items (all of them when there
    # are fewer): exact top-k over every item per query, so the cost grows with items × this,
    # not with items². Measured against scoring all of them: docs/benchmarks.md.
    max_validation_items: int = Field(20_000, ge=100)
    # The blend rule of the served modules (contracts/blend.py), chosen on the same split.
    blend: bool = True


class PublishConfig(_Section):
    keep_versions: int = Field(5, ge=1)  # older versions are deleted, never the CURRENT one


class TrainConfig(_Section):
    data: DataConfig = DataConfig()
    sessions: SessionConfig = SessionConfig()
    vocab: VocabConfig = VocabConfig()
    sgns: SGNSConfig = SGNSConfig()
    negatives: NegativesConfig = NegativesConfig()
    journeys: JourneysConfig = JourneysConfig()
    entities: EntitiesConfig = EntitiesConfig()
    no_interaction: bool = True  # also train the paper's baseline: one token per item
    index: IndexConfig = IndexConfig()
    cold: ColdConfig = ColdConfig()
    popular: PopularConfig = PopularConfig()
    auto: AutoConfig = AutoConfig()
    publish: PublishConfig = PublishConfig()

    def with_overrides(self, overrides: dict[str, dict[str, Any]]) -> TrainConfig:
        """A copy with ``{section: {field: value}}`` replaced; None values are ignored."""
        merged = self.model_dump()
        for section, values in overrides.items():
            merged[section].update({k: v for k, v in values.items() if v is not None})
        return TrainConfig.model_validate(merged)


class ConfigError(ValueError):
    """The config file is unreadable or holds an impossible value."""


def default_config_toml() -> str:
    """Every setting with its default, as TOML for ``--config``; the settings whose default is
    "unset" (TOML has no null) are listed in a comment at the top."""
    defaults = TrainConfig().model_dump(mode="json")
    unset = [
        f"{section}.{key}"
        for section, values in defaults.items()
        if isinstance(values, dict)
        for key, value in values.items()
        if value is None
    ]
    header = (
        "# python -m trainer config --show: every training setting with its default.\n"
        f"# Unset by default (add them to set them): {', '.join(unset) or 'none'}.\n\n"
    )
    return header + tomli_w.dumps(_without_none(defaults))


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value


def load_config(path: Path | None) -> TrainConfig:
    """The defaults, updated by the TOML file at ``path`` if given."""
    if path is None:
        return TrainConfig()
    try:
        raw = tomllib.loads(Path(path).read_text())
        return TrainConfig.model_validate(raw)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    except ValidationError as exc:
        raise ConfigError(f"invalid config {path}:\n{exc}") from exc
