"""The options the trainer's commands share: the config file and its flags (data reading, SGNS
basics), each shown with its built-in default, and how they become one ``TrainConfig``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from trainer import adapters
from trainer.config import ConfigError, TrainConfig, load_config

ADAPTERS = list(adapters.ADAPTERS)
DEFAULTS = TrainConfig()


class _Epochs(click.ParamType):
    """An integer of at least 1, or ``auto``."""

    name = "INTEGER|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value == "auto" or (isinstance(value, int) and value >= 1):
            return value
        try:
            epochs = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is neither an integer nor 'auto'", param, ctx)
        if epochs < 1:
            self.fail(f"{epochs} is below 1", param, ctx)
        return epochs


def config_options(command: Callable[..., None]) -> Callable[..., None]:
    """The flags ``train``, ``tune`` and ``evaluate`` share: config file, data reading, SGNS
    basics. Each flag overrides the config file; its shown default is the built-in one."""
    data, sgns = DEFAULTS.data, DEFAULTS.sgns
    options = [
        click.option("--config", "config_path",
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="TOML config (`python -m trainer config --show` prints the full "
                     "default one); flags override it."),
        click.option("--adapter", type=click.Choice(ADAPTERS), show_default=data.adapter,
                     help="Read a public dataset in its original format."),
        click.option("--format", "fmt", type=click.Choice(["auto", "csv", "parquet", "jsonl"]),
                     show_default=data.format, help="The event log's file format."),
        click.option("--map", "mapping", multiple=True, metavar="NAME=INTERACTION",
                     help="Map a dataset's interaction name to a canonical one (repeatable)."),
        click.option("--on-bad-rows", type=click.Choice(["skip", "fail"]),
                     show_default=data.on_bad_rows,
                     help="Malformed rows: count, report and skip them, or stop."),
        click.option("--threads", type=click.IntRange(0), show_default=str(sgns.threads),
                     help="Training threads: 0 = all cores; 1 = reproducible."),
        click.option("--epochs", type=_Epochs(), show_default=str(sgns.epochs),
                     help="An integer, or auto: chosen on a validation split."),
        click.option("--dim", type=click.IntRange(2, 1024), show_default=str(sgns.dim),
                     help="Embedding dimensions."),
        click.option("--seed", type=int, show_default=str(sgns.seed),
                     help="Random seed (sampling, initialisation, negatives)."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def data_options(command: Callable[..., None]) -> Callable[..., None]:
    """``config_options`` without the SGNS flags: what ``prepare`` reads the log with."""
    command = config_options(command)
    params: list[click.Parameter] = getattr(command, "__click_params__", [])
    sgns_flags = {"threads", "epochs", "dim", "seed"}
    params[:] = [p for p in params if p.name not in sgns_flags]
    return command


def config_from(
    config_path: Path | None,
    adapter: str | None,
    fmt: str | None,
    mapping: tuple[str, ...],
    on_bad_rows: str | None,
    threads: int | None,
    epochs: int | str | None,
    dim: int | None,
    seed: int | None,
    data: dict[str, Any] | None = None,
) -> TrainConfig:
    """The TOML config (or the defaults) with the flags of ``config_options`` on top."""
    overrides = {
        "data": {
            "adapter": adapter,
            "format": fmt,
            "on_bad_rows": on_bad_rows,
            "interaction_map": _mapping(mapping) or None,
            **(data or {}),
        },
        "sgns": {"threads": threads, "epochs": epochs, "dim": dim, "seed": seed},
    }
    try:
        return load_config(config_path).with_overrides(overrides)
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
