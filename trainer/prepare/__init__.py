"""``prepare``: the event log → the prepared format, on this machine or on Apache Spark.

Preparation is everything ``train`` does before the models: load and validate (same adapters,
mapping, bad-row report), sessions, vocabulary, the token corpora (pairs with entity tokens and
implicit negatives, items), the popular items. ``prepare --engine local`` runs the trainer's own
code (trainer/prepare/local.py); ``--engine spark`` runs the same rules as a Spark job
(trainer/prepare/spark.py) for logs that outgrow one machine. Both write the format of
trainer/prepare/format.py, and ``train --prepared`` trains from either: the version is the one
``train --events`` would publish (docs/spark.md).
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from trainer.config import TrainConfig
from trainer.prepare import format as fmt

Engine = Literal["local", "spark"]
ENGINES: tuple[Engine, ...] = ("local", "spark")


class PrepareError(ValueError):
    """``prepare`` cannot run as asked: output folder, engine, or a config it cannot carry."""


def prepare(
    events: str,
    out: Path,
    config: TrainConfig,
    engine: Engine = "local",
    master: str | None = None,
    progress: bool = True,
) -> fmt.Manifest:
    """Prepare the log file(s) ``events`` (a path or a glob) into ``out``; its manifest."""
    out = Path(out)
    _clear(out)
    started = time.perf_counter()
    if engine == "local":
        from trainer.prepare.local import prepare_local

        fields = prepare_local(events, out, config, progress)
    elif engine == "spark":
        from trainer.prepare.spark import prepare_spark

        fields = prepare_spark(events, out, config, master)
    else:
        raise PrepareError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    fmt.write_manifest(
        out,
        {
            **fields,
            "engine": engine,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - started, 1),
            "config": fmt.preparing_config(config.model_dump(mode="json")),
        },
    )
    return fmt.read_manifest(out)


def _clear(out: Path) -> None:
    """An empty folder to write into; a previous prepared folder there is replaced, anything
    else is refused (prepare never deletes what it did not write)."""
    if out.exists() and any(out.iterdir()):
        if not (out / fmt.MANIFEST).is_file() and not (out / fmt.EVENTS).is_dir():
            raise PrepareError(f"{out} exists and is not a prepared folder; choose a new --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def training_config(manifest: fmt.Manifest, given: TrainConfig) -> TrainConfig:
    """``given`` with the preparing sections of the prepared folder (they made its corpus).

    A preparing setting that ``given`` changes from the built-in default to something else
    than the folder holds is refused: the folder cannot honour it without a new ``prepare``.
    """
    prepared = manifest.config
    wanted = fmt.preparing_config(given.model_dump(mode="json"))
    default = fmt.preparing_config(TrainConfig().model_dump(mode="json"))
    clashes = [
        f"{section}.{key} = {value!r} (prepared with {prepared[section].get(key)!r})"
        for section, values in wanted.items()
        for key, value in values.items()
        if value != default[section].get(key) and value != prepared[section].get(key)
    ]
    if clashes:
        raise PrepareError(
            "the config changes what the prepared folder was made with: "
            + "; ".join(clashes)
            + ". Run `prepare` again with this config, or drop these settings."
        )
    merged: dict[str, Any] = given.model_dump()
    for section, values in prepared.items():
        merged[section].update(values)
    return TrainConfig.model_validate(merged)
