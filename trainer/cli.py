"""``python -m trainer``: synth, train, tune, evaluate, versions. Stable: scripts depend on it.

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

from contracts.storage import Location
from trainer import logs
from trainer.cli_options import config_from, config_options, data_options
from trainer.config import TrainConfig, default_config_toml
from trainer.evaluation.cli import evaluate
from trainer.versions import parse_artifacts, versions

log = logging.getLogger("trainer")


@click.group()
@click.version_option(package_name="interaction-candidates", prog_name="python -m trainer")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option("--log-format", type=click.Choice(logs.FORMATS), default="text", show_default=True,
              envvar="LOG_FORMAT", show_envvar=True,
              help="stderr as text lines, or JSON lines (UTC, ms) for a log store.")  # fmt: skip
def main(verbose: bool, log_format: logs.LogFormat) -> None:
    """Offline trainer of item-interaction embeddings (see docs/training.md)."""
    logs.configure(logging.DEBUG if verbose else logging.INFO, log_format)


main.add_command(versions)
main.add_command(evaluate)


@main.command(name="config")
@click.option("--show", is_flag=True, required=True, help="Print the full default config.")
def config_command(show: bool) -> None:
    """Print every training setting with its default, as a TOML file for --config."""
    click.echo(default_config_toml(), nl=False)


@main.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file: .csv, .csv.gz, .parquet or .jsonl.",
)
@click.option("--users", type=click.IntRange(1), default=2000, show_default=True,
              help="Users, each with a taste for a few categories.")  # fmt: skip
@click.option("--items", type=click.IntRange(2), default=5000, show_default=True,
              help="Items, spread over the categories.")  # fmt: skip
@click.option(
    "--categories",
    type=click.IntRange(2),
    default=50,
    show_default=True,
    help="Even: categories come in complementary pairs.",
)
@click.option("--days", type=click.IntRange(1), default=9, show_default=True,
              help="Days of events (the evaluation tests on the last).")  # fmt: skip
@click.option("--seed", type=int, default=7, show_default=True,
              help="Random seed: the same seed writes the same log.")  # fmt: skip
@click.option(
    "--listing-size",
    type=click.IntRange(0, 100),
    default=0,
    show_default=True,
    help="Add impressions: each view shows 0..N-1 skipped items above it (0 = off).",
)
@click.option(
    "--shops",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Add shop_id: items belong to this many shops, each in one category pair (0 = off).",
)
@click.option(
    "--search-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Add query: this fraction of sessions starts with a search (0 = off).",
)
def synth(
    out: Path,
    users: int,
    items: int,
    categories: int,
    days: int,
    seed: int,
    listing_size: int,
    shops: int,
    search_rate: float,
) -> None:
    """Write a synthetic event log in the canonical schema."""
    from trainer.synth import SynthConfig, generate, write_events

    if categories % 2:
        raise click.BadParameter("must be even", param_hint="--categories")
    try:
        config = SynthConfig(
            users=users,
            items=items,
            categories=categories,
            days=days,
            seed=seed,
            listing_size=listing_size,
            shops=shops,
            search_rate=search_rate,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    table = generate(config)
    write_events(table, out)
    log.info("wrote %d events to %s", table.num_rows, out)


@main.command()
@click.option(
    "--events",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Event log: CSV, Parquet or JSON Lines (optionally .gz). This or --prepared.",
)
@click.option(
    "--prepared",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder written by `prepare` (docs/spark.md): train from its token shards.",
)
@click.option(
    "--artifacts",
    callback=parse_artifacts,
    required=True,
    help="Artifact folder or s3://bucket/prefix; a new version is published and CURRENT moved.",
)
@config_options
@click.option("--since", type=click.DateTime(), show_default="the first event",
              help="Keep events at or after (UTC).")  # fmt: skip
@click.option("--until", type=click.DateTime(), show_default="past the last event",
              help="Keep events before (UTC).")  # fmt: skip
@click.option("--no-progress", is_flag=True, help="No progress bars or progress lines.")
@click.option("--tune", "tune_first", is_flag=True,
              help="Run `tune` on the same events first and train with what it chose.")  # fmt: skip
@click.option("--budget-minutes", type=click.FloatRange(min=0, min_open=True), default=5.0,
              show_default=True, help="With --tune: the search's time budget.")  # fmt: skip
def train(
    events: Path | None,
    prepared: Path | None,
    artifacts: Location,
    since: datetime | None,
    until: datetime | None,
    no_progress: bool,
    tune_first: bool,
    budget_minutes: float,
    **options: Any,
) -> None:
    """Train on an event log (or a prepared folder) and publish a new version; print its id
    last."""
    from contracts.artifacts import ArtifactError
    from contracts.storage import open_store
    from trainer.events import BadRowsError, EventLogError, load_events
    from trainer.pipeline import train as run
    from trainer.tune import tune

    if (events is None) == (prepared is None):
        raise click.UsageError("give one of --events FILE or --prepared FOLDER")
    if prepared is not None and (tune_first or since or until):
        raise click.UsageError("--tune, --since and --until need --events (or prepare with them)")
    config = config_from(**options, data={"since": since, "until": until})
    try:
        open_store(artifacts).check()  # a bad bucket or credentials fail before any training
        if prepared is not None:
            click.echo(_train_prepared(prepared, artifacts, config, not no_progress))
            return
        assert events is not None
        if tune_first:
            event_log = load_events(events, config.data, progress=not no_progress)
            config = tune(event_log, config, budget_minutes, not no_progress).config
        version = run(events, artifacts, config, progress=not no_progress)
    except (BadRowsError, EventLogError, ArtifactError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(version)


def _train_prepared(
    prepared: Path, artifacts: Location, config: TrainConfig, progress: bool
) -> str:
    from trainer.pipeline import train_prepared
    from trainer.prepare.format import PreparedError

    try:
        return train_prepared(prepared, artifacts, config, progress=progress)
    except PreparedError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command(name="prepare")
@click.option("--events", required=True, metavar="PATH|GLOB",
              help="Event log file(s): a path or a quoted glob, read in name order.")  # fmt: skip
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The prepared folder (replaced if it holds an earlier one).")  # fmt: skip
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local",
              show_default=True, help="This process (pyarrow/numpy) or Apache Spark.")  # fmt: skip
@click.option("--master", show_default="local[*], or spark-submit's --master",
              help="With --engine spark: the Spark master URL.")  # fmt: skip
@data_options
@click.option("--since", type=click.DateTime(), show_default="the first event",
              help="Keep events at or after (UTC).")  # fmt: skip
@click.option("--until", type=click.DateTime(), show_default="past the last event",
              help="Keep events before (UTC).")  # fmt: skip
@click.option("--no-progress", is_flag=True, help="No progress bars or progress lines.")
def prepare_command(
    events: str,
    out: Path,
    engine: str,
    master: str | None,
    since: datetime | None,
    until: datetime | None,
    no_progress: bool,
    **options: Any,
) -> None:
    """Load, validate, sessionize, build the vocabulary and encode the corpus of an event log
    into a prepared folder for `train --prepared` (docs/spark.md); print the folder last."""
    from trainer.events import BadRowsError, EventLogError
    from trainer.prepare import prepare

    window = {"since": since, "until": until}
    config = config_from(**options, threads=None, epochs=None, dim=None, seed=None, data=window)
    try:
        manifest = prepare(events, out, config, engine, master, progress=not no_progress)  # type: ignore[arg-type]
    except (BadRowsError, EventLogError, ImportError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    stats = manifest.statistics
    log.info("prepared %s events, %s sessions, %s pairs with %s in %ss",
             stats["events"], stats["sessions"], stats["pairs"], engine,
             manifest.raw["seconds"])  # fmt: skip
    click.echo(out)


@main.command(name="tune")
@click.option("--events", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="Event log (its last day validates).")  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The winning config (TOML); its trace goes beside it.")  # fmt: skip
@config_options
@click.option("--budget-minutes", type=click.FloatRange(min=0, min_open=True), default=5.0,
              show_default=True, help="Stop when the next trial would pass this.")  # fmt: skip
@click.option("--no-progress", is_flag=True, help="No progress bars or progress lines.")
def tune_command(
    events: Path, out: Path, budget_minutes: float, no_progress: bool, **options: Any
) -> None:
    """Search epochs, sampling, window, similarity, negatives and the extensions' switches on
    a validation split (docs/training.md "Tuning"); print the config's path last."""
    from trainer.events import BadRowsError, EventLogError, load_events
    from trainer.tune import KnobError, tune, write_tuned

    config = config_from(**options)
    try:
        event_log = load_events(events, config.data, progress=not no_progress)
        tuned = tune(event_log, config, budget_minutes, not no_progress)
    except (BadRowsError, EventLogError, KnobError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    path, trace = write_tuned(tuned, out, "python -m trainer " + " ".join(sys.argv[1:]))
    log.info("validation objective %.3f %% → %.3f %%; trace: %s",
             100 * tuned.start_objective, 100 * tuned.objective, trace)  # fmt: skip
    click.echo(path)
