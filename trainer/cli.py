"""``python -m trainer``: synth, train (and, later, evaluate). Stable: scripts depend on it.

Everything a human reads goes to stderr (logs, progress bars, bad-row reports); stdout carries
only results, so ``train``'s last stdout line is the published version id.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from trainer.config import ConfigError, TrainConfig, load_config


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """Offline trainer of item-interaction embeddings (see docs/training.md)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@main.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file: .csv, .csv.gz, .parquet or .jsonl.",
)
@click.option("--users", type=click.IntRange(1), default=2000, show_default=True)
@click.option("--items", type=click.IntRange(2), default=5000, show_default=True)
@click.option(
    "--categories",
    type=click.IntRange(2),
    default=50,
    show_default=True,
    help="Even: categories come in complementary pairs.",
)
@click.option("--days", type=click.IntRange(1), default=9, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
def synth(out: Path, users: int, items: int, categories: int, days: int, seed: int) -> None:
    """Write a synthetic event log in the canonical schema."""
    from trainer.synth import SynthConfig, generate, write_events

    if categories % 2:
        raise click.BadParameter("must be even", param_hint="--categories")
    table = generate(
        SynthConfig(users=users, items=items, categories=categories, days=days, seed=seed)
    )
    write_events(table, out)
    click.echo(f"wrote {table.num_rows} events to {out}", err=True)


@main.command()
@click.option(
    "--events",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Event log: CSV, Parquet or JSON Lines (optionally .gz).",
)
@click.option(
    "--artifacts",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Artifact directory; a new version is published and CURRENT moved.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML config; flags override it.",
)
@click.option(
    "--adapter",
    type=click.Choice(["canonical", "taobao", "rees46", "retailrocket"]),
    help="Read a public dataset in its original format.",
)
@click.option("--format", "fmt", type=click.Choice(["auto", "csv", "parquet", "jsonl"]))
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="NAME=INTERACTION",
    help="Map a dataset's interaction name to a canonical one (repeatable).",
)
@click.option("--on-bad-rows", type=click.Choice(["skip", "fail"]))
@click.option("--since", type=click.DateTime(), help="Keep events at or after (UTC).")
@click.option("--until", type=click.DateTime(), help="Keep events before (UTC).")
@click.option("--threads", type=click.IntRange(0), help="0 = all cores; 1 = reproducible.")
@click.option("--epochs", type=click.IntRange(1))
@click.option("--dim", type=click.IntRange(2, 1024))
@click.option("--seed", type=int)
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def train(
    events: Path,
    artifacts: Path,
    config_path: Path | None,
    adapter: str | None,
    fmt: str | None,
    mapping: tuple[str, ...],
    on_bad_rows: str | None,
    since: datetime | None,
    until: datetime | None,
    threads: int | None,
    epochs: int | None,
    dim: int | None,
    seed: int | None,
    no_progress: bool,
) -> None:
    """Train on an event log and publish a new version; print its id last."""
    from trainer.events import BadRowsError, EventLogError
    from trainer.pipeline import train as run

    config = _config(
        config_path,
        {
            "data": {
                "adapter": adapter,
                "format": fmt,
                "on_bad_rows": on_bad_rows,
                "since": since,
                "until": until,
                "interaction_map": _mapping(mapping) or None,
            },
            "sgns": {"threads": threads, "epochs": epochs, "dim": dim, "seed": seed},
        },
    )
    try:
        version = run(events, artifacts, config, progress=not no_progress)
    except (BadRowsError, EventLogError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(version)


def _config(path: Path | None, overrides: dict[str, dict[str, Any]]) -> TrainConfig:
    try:
        return load_config(path).with_overrides(overrides)
    except (ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


def _mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        name, sep, interaction = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=INTERACTION", param_hint="--map")
        result[name] = interaction
    return result
