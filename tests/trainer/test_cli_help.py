"""The trainer's command line for a new user: its version, help that documents every option,
the full default config as a file it reads back unchanged, and log lines a scheduler can parse."""

from __future__ import annotations

import json
import logging
import re

import click
import pytest
from click.testing import CliRunner

from contracts.json_logs import JsonFormatter
from trainer.cli import main
from trainer.config import TrainConfig, load_config


def test_the_trainer_says_its_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and "version 0." in result.output


def test_config_show_prints_every_default_as_a_file_that_loads_back_unchanged(tmp_path):
    result = CliRunner().invoke(main, ["config", "--show"])
    assert result.exit_code == 0 and "[sgns]" in result.output and "epochs = " in result.output
    path = tmp_path / "train.toml"
    path.write_text(result.output)
    assert load_config(path) == TrainConfig()


def _commands(group: click.Group, path: str = "") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = [(path or "main", group)]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, f"{path} {name}".strip())
        else:
            found.append((f"{path} {name}".strip(), command))
    return found


def test_every_option_has_help_and_shows_its_default():
    """`--help` is the reference: no bare flag, no hidden default. The flags a config file can
    also set (default None, so the file wins) show the built-in default instead."""
    for name, command in _commands(main):
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            where = f"{name} {param.opts[0]}"
            assert param.help, f"{where} has no help text"
            given = param.default if isinstance(param.default, int | float | str) else None
            has_default = given is not None and not param.is_flag and not param.required
            assert param.show_default or not has_default, f"{where} hides its default"
    shared = {p.opts[0]: p for p in main.commands["train"].params if isinstance(p, click.Option)}
    for flag in ("--adapter", "--format", "--on-bad-rows", "--threads", "--epochs", "--dim"):
        assert isinstance(shared[flag].show_default, str), f"{flag} shows no built-in default"


def test_train_help_shows_the_built_in_defaults():
    text = CliRunner().invoke(main, ["train", "--help"], terminal_width=200).output
    defaults = TrainConfig()
    assert f"[default: ({defaults.sgns.dim}); 2<=x<=1024]" in text
    assert f"[default: ({defaults.sgns.epochs})]" in text


TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_json_logs_are_one_object_a_line_in_utc_with_milliseconds(tmp_path, how):
    flags = ["--log-format", "json"] if how == "flag" else []
    env = {"LOG_FORMAT": "json"} if how == "environment" else {}
    out = tmp_path / "events.csv"
    args = [*flags, "synth", "--out", str(out), "--users", "20", "--items", "50", "--days", "2"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert records and all(TIME.match(r["time"]) and r["level"] for r in records)
    assert any(r["message"].startswith("wrote ") and r["logger"] == "trainer" for r in records)


def test_text_logs_stay_the_default(tmp_path):
    result = CliRunner().invoke(main, ["synth", "--out", str(tmp_path / "e.csv"), "--users", "5"])
    assert result.stderr and not result.stderr.lstrip().startswith("{")


def test_a_json_line_carries_no_terminal_colour_codes():
    record = logging.makeLogRecord({"msg": "\x1b[31mred\x1b[0m and \x1b[1;32mgreen\x1b[m",
                                    "name": "trainer", "levelname": "INFO"})  # fmt: skip
    line = JsonFormatter().format(record)
    assert "\x1b" not in line and json.loads(line)["message"] == "red and green"
