"""The trainer's command line for a new user: its version, and the full default config as a
file it reads back unchanged."""

from __future__ import annotations

from click.testing import CliRunner

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
