"""The slim serving image installs ``interaction-candidates`` without its ``trainer`` extra
(Dockerfile target ``service``). So the service, run for real, must import neither a package of
that extra nor the trainer's code: a fresh interpreter where those imports fail loads a model,
answers every kind of route and imports every service module."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from service.model import Model

ROOT = Path(__file__).resolve().parents[2]

SERVE = r"""
import importlib, importlib.abc, pkgutil, sys

blocked = set(sys.argv[1].split(","))

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"{name} is not in the serving install", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
from fastapi.testclient import TestClient
import service, contracts
from service.app import create_app
from service.settings import Settings

artifacts, redis_url, item = sys.argv[2:5]
settings = Settings(artifacts_dir=artifacts, redis_url=redis_url, reload_interval_seconds=0)
with TestClient(create_app(settings)) as client:
    event = {"user_id": "u1", "item_id": item, "interaction": "view", "timestamp": 1.7e9}
    for method, url, body in [
        ("get", "/readyz", None),
        ("post", "/v1/events", event),
        ("get", "/v1/users/u1/candidates?k=5", None),
        ("post", "/v1/users/u1/candidates", {"k": 5, "exclude": ["x"]}),
        ("get", f"/v1/items/{item}/neighbors?k=5", None),
        ("get", "/metrics", None),
        ("get", "/docs", None),
    ]:
        answer = client.request(method, url, json=body)
        assert answer.status_code in (200, 202), (url, answer.status_code, answer.text[:200])
for package in (service, contracts):
    for found in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not found.name.endswith("__main__"):
            importlib.import_module(found.name)
print("served without", ",".join(sorted(blocked)))
"""


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0].replace("-", "_").lower()


def serving_closure() -> set[str]:
    """Every distribution the serving install brings: the base requirements, transitively (as
    installed here; their own extras and platform-only requirements left out)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found: set[str] = set()
    todo = [_name(r) for r in project["dependencies"]]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # a platform-only requirement not installed here
        todo += [_name(r) for r in requires if "extra ==" not in r]
    return found


def trainer_only_modules() -> set[str]:
    """The ``trainer`` extra's distributions that the serving install does not bring anyway
    (uvicorn brings click), and the trainer's own code."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = {_name(r) for r in project["optional-dependencies"]["trainer"]}
    return (extra - serving_closure()) | {"trainer"}


def test_the_service_runs_without_the_trainer_extra(
    artifacts_dir: Path, redis_url: str, model: Model
):
    blocked = trainer_only_modules()
    assert {"pyarrow", "matplotlib", "tqdm", "trainer"} <= blocked
    result = subprocess.run(
        [sys.executable, "-c", SERVE, ",".join(sorted(blocked)), str(artifacts_dir), redis_url,
         model.item_ids[0]],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "served without" in result.stdout


def test_a_blocked_import_is_really_refused(tmp_path: Path):
    """The guard itself: importing a trainer module under it fails (so the test above can)."""
    script = SERVE.split("from fastapi.testclient")[0] + "import trainer.sgns\n"
    result = subprocess.run(
        [sys.executable, "-c", script, "numba,trainer"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode != 0 and "not in the serving install" in result.stderr
