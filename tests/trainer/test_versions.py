"""``python -m trainer versions``: list, verify and roll back real published versions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from contracts import artifacts
from trainer.cli import main
from trainer.config import TrainConfig
from trainer.pipeline import train
from trainer.synth import SynthConfig, generate, write_events

TINY = {"sgns": {"dim": 8, "epochs": 1, "threads": 1}, "index": {"recall_sample": 20}}


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory) -> tuple[Path, str, str]:
    folder = tmp_path_factory.mktemp("versions")
    events = folder / "events.csv"
    write_events(generate(SynthConfig(users=200, items=400, categories=8)), events)
    root = folder / "artifacts"
    config = TrainConfig().with_overrides(TINY)
    first = train(events, root, config, progress=False)
    return root, first, train(events, root, config, progress=False)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["versions", *args])
    return result.exit_code, result.output


def test_list_shows_every_version_and_marks_the_current_one(two_versions):
    root, first, second = two_versions
    code, out = run("list", "--artifacts", str(root))
    lines = out.rstrip().splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].startswith(f"  {first}") and lines[1].startswith(f"* {second}")
    code, out = run("list", "--artifacts", str(root), "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["current"] for r in rows] == [False, True] and all(r["pairs"] > 0 for r in rows)


def test_rollback_moves_current_and_the_service_would_follow(two_versions, tmp_path):
    root, first, second = two_versions
    copy = tmp_path / "artifacts"
    shutil.copytree(root, copy)
    assert run("rollback", "--artifacts", str(copy), first) == (
        0,
        f"CURRENT: {second} -> {first}\n",
    )
    assert artifacts.read_current(copy) == first


def test_verify_fails_on_a_changed_byte_and_rollback_refuses_that_version(two_versions, tmp_path):
    root, first, second = two_versions
    copy = tmp_path / "artifacts"
    shutil.copytree(root, copy)
    damaged = artifacts.version_dir(copy, first) / artifacts.ITEMS
    data = bytearray(damaged.read_bytes())
    data[0] ^= 1
    damaged.write_bytes(bytes(data))
    assert run("verify", "--artifacts", str(copy))[0] == 0  # the current one is sound
    code, out = run("verify", "--artifacts", str(copy), first, second)
    assert code == 1 and f"{first}: FAILED" in out and f"{second}: ok" in out
    code, out = run("rollback", "--artifacts", str(copy), first)
    assert code != 0 and f"CURRENT stays {second}" in out
    assert artifacts.read_current(copy) == second
