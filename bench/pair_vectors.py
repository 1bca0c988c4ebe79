"""View-interaction against no-interaction on the validation split, for given settings.

    python bench/pair_vectors.py EVENTS ADAPTER SETTING [SETTING ...]
    python bench/pair_vectors.py ../shared/data/taobao_userbehavior/user_sample.csv.gz taobao \\
        "sgns.epochs=80,sgns.sample=1e-4" "sgns.epochs=80,sgns.sample=1e-4,sgns.pair_vectors=item"

The split is the evaluation's validation split (trainer/evaluation/tuning.py: the last day of
the training window of a one-day test split), so the test day is never looked at. Prints, per
setting, the epochs used, the wall time, and both models' hit rates @50 and @200 (%) per
target: the comparison behind ``sgns.pair_vectors``'s default (docs/training.md).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from contracts.interactions import Interaction
from trainer.config import TrainConfig
from trainer.evaluation.generators import embeddings_of
from trainer.evaluation.metrics import build_test_pairs
from trainer.evaluation.scorer import EvalOptions, Scorer
from trainer.evaluation.split import seen_items
from trainer.evaluation.tuning import validation_split
from trainer.events import load_events
from trainer.fit import fit
from trainer.tune import parse_setting


def main(events: str, adapter: str, settings: list[str]) -> None:
    base = TrainConfig().with_overrides({"data": {"adapter": adapter}})
    log = load_events(Path(events), base.data, progress=False)
    split = validation_split(log, 1.0, base)
    pairs = build_test_pairs(split.test)
    options = EvalOptions(ks=(50, 200), progress=False)
    for setting in settings:
        config = parse_setting(base, setting)
        started = time.time()
        models = fit(split.train, config, False)
        scorer = Scorer(pairs, seen_items(models.sessions), len(split.train.item_ids), options)
        pair_emb, item_emb = embeddings_of(models, split.train)
        out = {}
        for name, emb, query in (("VI", pair_emb, Interaction.VIEW), ("NI", item_emb, None)):
            assert emb is not None
            rates = scorer.score(scorer.embedding(emb, config, query)).hit.hit_rate
            out[name] = {
                t: [round(100 * r[50], 2), round(100 * r[200], 2)] for t, r in rates.items()
            }
        seconds = time.time() - started
        print(
            f"{setting!r} epochs={models.pairs.epochs} {seconds:.0f}s {json.dumps(out)}", flush=True
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
