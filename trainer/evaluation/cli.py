"""``python -m trainer evaluate``: the offline evaluation's command (docs/evaluation.md)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from trainer.cli_options import config_from, config_options

log = logging.getLogger("trainer")


@click.command()
@click.option(
    "--events",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Event log; the last --test-days days are the test set.",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output folder: report.md, metrics.json and the plots.",
)
@click.option("--test-days", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="Test window, counted back from the last event.")  # fmt: skip
@click.option(
    "--artifacts",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Evaluate this published artifact directory instead of training.",
)
@click.option("--version", help="With --artifacts: the version (default: CURRENT).")
@config_options
@click.option("--sweep-dims", help="Comma-separated dimensions for Table 3, e.g. 25,50,75,100.")
@click.option("--ablations/--no-ablations", default=True, show_default=True,
              help="Retrain per ablation: negatives off, journey extensions on.")  # fmt: skip
@click.option("--gensim/--no-gensim", default=True, show_default=True,
              help="gensim Word2Vec reference (needs the bench extra).")  # fmt: skip
@click.option("--gensim-runs", type=click.IntRange(1), default=1, show_default=True,
              help="Seeds averaged on both sides of the gensim check.")  # fmt: skip
@click.option("--copurchase-window-hours", type=click.FloatRange(min=0), default=None,
              help="Co-purchase: bought by one user within this many hours [default: the "
              "whole training period].")  # fmt: skip
@click.option("--search", type=click.Choice(["exact", "hnsw"]), default="exact", show_default=True,
              help="Candidate search: exact top-k, or an hnswlib index per model.")  # fmt: skip
@click.option("--no-progress", is_flag=True, help="No progress bars or progress lines.")
def evaluate(
    events: Path,
    report_dir: Path,
    test_days: float,
    artifacts: Path | None,
    version: str | None,
    sweep_dims: str | None,
    ablations: bool,
    gensim: bool,
    gensim_runs: int,
    copurchase_window_hours: float | None,
    search: str,
    no_progress: bool,
    **config_flags: Any,
) -> None:
    """Offline evaluation: hit rate, coverage and baselines on a later window (see
    docs/evaluation.md); prints the path of metrics.json last."""
    from contracts.artifacts import ArtifactError
    from trainer.evaluation.plots import write_plots
    from trainer.evaluation.published import evaluate_version
    from trainer.evaluation.report import write_report
    from trainer.evaluation.run import evaluate_log
    from trainer.evaluation.scorer import EvalOptions
    from trainer.evaluation.split import SplitError
    from trainer.events import BadRowsError, EventLogError

    config = config_from(**config_flags)
    options = EvalOptions(
        test_days=test_days,
        sweep_dims=_dims(sweep_dims),
        ablations=ablations,
        gensim=gensim,
        gensim_runs=gensim_runs,
        copurchase_window_hours=copurchase_window_hours,
        search="hnsw" if search == "hnsw" else "exact",
        progress=not no_progress,
        command="python -m trainer " + " ".join(sys.argv[1:]),
    )
    try:
        if artifacts is not None:
            evaluation = evaluate_version(artifacts, version, events, config.data, options)
        else:
            evaluation = evaluate_log(events, config, options)
    except (BadRowsError, EventLogError, SplitError, ArtifactError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    plots = write_plots(evaluation, report_dir)
    paths = write_report(evaluation, report_dir, plots)
    for name, result in evaluation.models.items():
        rates = result.hit.hit_rate["purchase"]
        log.info("%s: purchase hit rate@%d %.2f %%, item coverage %.1f %%", name, max(rates),
                 100 * rates[max(rates)], 100 * result.coverage.items)  # fmt: skip
    click.echo(paths[-1])


def _dims(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        dims = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a list of integers", param_hint="--sweep-dims"
        ) from None
    if any(d < 2 or d > 1024 for d in dims):
        raise click.BadParameter("dimensions must be in 2..1024", param_hint="--sweep-dims")
    return dims
