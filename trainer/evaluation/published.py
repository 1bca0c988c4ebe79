"""Evaluate an already-published version against a later event log.

``python -m trainer evaluate --artifacts DIR [--version V] --events TEST_LOG --report OUT``
reads the version exactly as the service would (verified manifest, the catalogue,
``tokens.npy``, embeddings, the popular lists) and scores the generators it can rebuild from
those files: view-interaction, cart-interaction, no-interaction, the view and no-interaction
models with cold items, popular and popular-in-category (a version keeps
``popular.top_per_category`` items per category, so that list may be shorter than K), plus the
X→Y matrix; with the version's category tokens also cold items by category token. Co-purchase
needs the training events and is not rebuilt.

The test sessions are those of TEST_LOG that start in its last ``--test-days`` days **and**
after the version's training data ended (``manifest.data.time_range``), so a log that overlaps
the training window cannot leak into the test.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from contracts import artifacts
from contracts.catalog import CatalogArrays
from contracts.interactions import Interaction
from contracts.published import PublishedVersion
from trainer.config import DataConfig, TrainConfig
from trainer.evaluation.generators import CategoryVectors, Embeddings, RankedListGenerator
from trainer.evaluation.metrics import build_test_pairs
from trainer.evaluation.results import Evaluation
from trainer.evaluation.scorer import EvalOptions, Scorer, interaction_matrix
from trainer.evaluation.split import holdout
from trainer.events import EventLog, load_events
from trainer.vocab import item_categories


def evaluate_version(
    artifacts_dir: Path, version: str | None, events: Path, data: DataConfig, options: EvalOptions
) -> Evaluation:
    """Score the published ``version`` (default: the one CURRENT names) on ``events``."""
    version = version or artifacts.read_current(artifacts_dir)
    if version is None:
        raise artifacts.CurrentError(f"{artifacts_dir} has no CURRENT version; pass --version")
    files = PublishedVersion.open(artifacts_dir, version)
    manifest, catalog, popular = files.manifest, files.catalog, files.popular
    config = TrainConfig.model_validate(manifest.config)
    log = load_events(events, data, progress=options.progress)
    time_range = manifest.data.time_range
    not_before = None if time_range is None else time_range[1] + 1
    test, info = holdout(log, options.test_days, config.sessions, not_before)
    pairs = build_test_pairs(test)

    codes = {item_id: c for c, item_id in enumerate(log.item_ids)}
    for item_id in [*catalog.item_ids, *popular.overall_items, *popular.category_items]:
        codes.setdefault(item_id, len(codes))
    item_code = np.array([codes[i] for i in catalog.item_ids], dtype=np.int64)
    scorer = Scorer(pairs, np.sort(item_code), len(codes), options)

    pair_emb = Embeddings(
        np.asarray(files.pair_vectors),
        np.asarray(files.pair_outputs()),
        item_code[catalog.token_item],
        catalog.token_interaction.astype(np.int8),
    )
    item_emb = None
    item_outputs = files.item_outputs()
    if files.item_vectors is not None and item_outputs is not None:
        item_emb = Embeddings(
            np.asarray(files.item_vectors), np.asarray(item_outputs), item_code, None
        )
    category, category_code = _categories(log, catalog.item_category, item_code, len(codes))
    tokens = _category_tokens(catalog, pair_emb.input, category_code)
    models = scorer.embedding_models(pair_emb, item_emb, config, category, category_tokens=tokens)
    k = max(options.ks)
    overall_code = np.array([codes[i] for i in popular.overall_items], dtype=np.int64)
    overall = _ranked(np.array([0, len(overall_code)]), overall_code, k)
    models["popular"] = scorer.score(RankedListGenerator(overall, None))
    group = {category: g for g, category in enumerate(popular.categories)}
    group_of_category = np.array([group.get(str(c), -1) for c in log.category_ids] + [-1])
    group_of_item = np.full(len(codes), -1, dtype=np.int64)
    group_of_item[: len(log.item_ids)] = group_of_category[item_categories(log)]  # -1 → last
    entry_code = np.array([codes[i] for i in popular.category_items], dtype=np.int64)
    ranked = _ranked(popular.category_offsets, entry_code, k)
    models["popular-in-category"] = scorer.score(RankedListGenerator(ranked, group_of_item))
    matrix = interaction_matrix(scorer, pair_emb, config) if options.matrix else {}
    return Evaluation(
        title=f"Offline evaluation of version {version} on {events.name}",
        command=options.command,
        split=info,
        data={
            "version": version,
            "train_items": len(catalog.item_ids),
            "train_pairs": len(catalog.token_item),
            "train_pairs_per_interaction": manifest.data.pairs_per_interaction,
            "test_items": len(np.unique(pairs.event_item)),
            "test_items_seen": int(np.isin(np.unique(pairs.event_item), item_code).sum()),
            "test_distinct_pairs": len(pairs),
            "test_distinct_pairs_seen": int(scorer.seen_mask.sum()),
            "test_events_per_interaction": {
                i.label: int((test.interaction == int(i)).sum()) for i in Interaction
            },
        },
        config=config,
        ks=options.ks,
        models=models,
        matrix=matrix,
        settings=options.settings(),
        notes=("co-purchase needs the training events and is not rebuilt from a version",),
        load=log.report,
    )


def _ranked(offsets: np.ndarray, code: np.ndarray, k: int) -> np.ndarray:
    """Popular lists (list c: the item codes ``code[offsets[c]:offsets[c + 1]]``) as a
    (n_lists, k + 1) table of item codes, -1 padded."""
    n_lists = len(offsets) - 1
    table = np.full((max(n_lists, 1), k + 1), -1, dtype=np.int64)
    lengths = np.minimum(np.diff(offsets), k + 1)
    at = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    which = np.repeat(np.arange(n_lists), lengths)
    table[which, at] = code[offsets[which] + at]
    return table


def _categories(
    log: EventLog, trained: Sequence[str | None], item_code: np.ndarray, n_codes: int
) -> tuple[np.ndarray, dict[str, int]]:
    """A category code per item code: the version's category for its items, else the log's;
    and the code of each category id."""
    code = {str(c): i for i, c in enumerate(log.category_ids)}
    category = np.full(n_codes, -1, dtype=np.int64)
    category[: len(log.item_ids)] = item_categories(log)
    for row, name in enumerate(trained):
        if name is not None:
            category[item_code[row]] = code.setdefault(str(name), len(code))
    return category, code


def _category_tokens(
    catalog: CatalogArrays, pairs_in: np.ndarray, code: dict[str, int]
) -> CategoryVectors | None:
    """The version's category tokens (None without), for categories with a code."""
    tokens = catalog.entity_token()
    found = [(code[i], t) for (kind, i), t in tokens.items() if kind == "category" and i in code]
    if not found:
        return None
    category, rows = (np.array(column, np.int64) for column in zip(*found, strict=True))
    return CategoryVectors(category, pairs_in[rows])
