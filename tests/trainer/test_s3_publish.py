"""``train --artifacts s3://…`` and ``versions … --artifacts s3://…`` against a real S3-API
server (moto_server): the same commands and guarantees as with a folder, and one-line errors
for a bad URL or an unreachable store (never a local folder named ``s3:``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from contracts.storage import open_store
from demo.redis import free_port
from trainer.cli import main
from trainer.synth import SynthConfig, generate, write_events

TINY_TOML = """
[sgns]
dim = 8
epochs = 1
threads = 1

[index]
recall_sample = 20
"""


@pytest.fixture(scope="module")
def small_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("s3-events")
    events, config = folder / "events.csv", folder / "tiny.toml"
    write_events(generate(SynthConfig(users=200, items=400, categories=8)), events)
    config.write_text(TINY_TOML, encoding="utf-8")
    return events, config


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def train(small_log: tuple[Path, Path], artifacts_url: str) -> Result:
    events, config = small_log
    return invoke(
        "train", "--events", str(events), "--config", str(config), "--artifacts", artifacts_url,
        "--no-progress",
    )  # fmt: skip


def test_train_publishes_to_s3_and_versions_lists_verifies_and_rolls_back(
    small_log: tuple[Path, Path], s3_url: str
) -> None:
    first = train(small_log, s3_url)
    assert first.exit_code == 0, first.output
    second = train(small_log, s3_url)
    v1, v2 = first.stdout.splitlines()[-1], second.stdout.splitlines()[-1]
    store = open_store(s3_url)
    assert store.read_current() == v2 and store.list_versions() == sorted([v1, v2])
    listed = invoke("versions", "list", "--artifacts", s3_url, "--json")
    rows = {row["version"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert rows[v2]["current"] and not rows[v1]["current"] and rows[v1]["pairs"] > 0
    verified = invoke("versions", "verify", "--artifacts", s3_url, v1, v2)
    assert verified.exit_code == 0 and verified.stdout.count(": ok (") == 2
    rolled = invoke("versions", "rollback", "--artifacts", s3_url, v1)
    assert rolled.exit_code == 0 and rolled.stdout == f"CURRENT: {v2} -> {v1}\n"
    assert store.read_current() == v1


@pytest.mark.parametrize("url", ["s3://", "s3:/bucket/models", "gs://bucket/models"])
def test_a_bad_url_is_one_line_and_no_local_folder(
    small_log: tuple[Path, Path], url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = train(small_log, url)
    assert result.exit_code != 0
    assert result.output.startswith("Error: --artifacts:") and result.output.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
    listed = invoke("versions", "list", "--artifacts", url)
    assert listed.exit_code != 0 and listed.output.count("\n") == 1


def test_an_unreachable_store_fails_before_training_with_one_line(
    small_log: tuple[Path, Path], s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    result = train(small_log, s3_url)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Could not connect to the endpoint" in errors[0]
    assert result.stdout == ""


def test_a_missing_bucket_is_named(small_log: tuple[Path, Path], s3_url: str) -> None:
    bucket = s3_url.split("/")[2]
    result = train(small_log, s3_url.replace(bucket, bucket + "-missing"))
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 1 and len(errors) == 1 and "does not exist" in errors[0]
