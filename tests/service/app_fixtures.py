"""Fixtures for the API tests: a small real model and the app serving it on a real Redis."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from contracts import artifacts
from contracts.interactions import Interaction
from service.app import create_app
from service.model import Model, load_model
from service.settings import Settings
from trainer.config import TrainConfig
from trainer.pipeline import train
from trainer.synth import SynthConfig, generate, write_events

__all__ = ["artifacts_dir", "client", "entity_model", "entity_trained", "model", "trained"]

PUBLISH_OWNS = {"schema_version", "version", "created_at", "files"}

SMALL = {"sgns": {"dim": 16, "epochs": 2, "threads": 1}, "index": {"recall_sample": 50}}
# Entity tokens: every query kept (the default cuts one-offs); ten epochs so that the planted
# effect (a query's first view is in the query's category) shows (~2.5 s to train).
ENTITIES = {
    "sgns": {**SMALL["sgns"], "epochs": 10},
    "index": SMALL["index"],
    "entities": {"kinds": ["query", "category", "shop"], "min_count": {"query": 1}},
}


@dataclass(frozen=True)
class Trained:
    """A published artifact folder and a way to publish more versions into a copy of it."""

    root: Path
    version: str
    events: Path

    def copy_to(self, folder: Path) -> Path:
        shutil.copytree(self.root, folder)
        return folder

    def publish_another(self, root: Path, seed: int = 2) -> str:
        config = TrainConfig().with_overrides({**SMALL, "sgns": {**SMALL["sgns"], "seed": seed}})
        return train(self.events, root, config, progress=False)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    folder = tmp_path_factory.mktemp("model")
    events = folder / "events.csv"
    write_events(generate(SynthConfig(users=600, items=1200, categories=20)), events)
    root = folder / "artifacts"
    version = train(events, root, TrainConfig().with_overrides(SMALL), progress=False)
    return Trained(root, version, events)


@pytest.fixture(scope="session")
def entity_trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """A version with query, category and shop tokens: a world with shops and searches
    ("cheap c012": a search for category c012, then a view of one of its items)."""
    return _entity_world(tmp_path_factory.getbasetemp())


@functools.cache
def _entity_world(base: Path) -> Trained:
    """Trained once per session (per xdist worker), though two test folders register the
    fixture: tests/service (conftest.py) and tests/client (the service its client talks to)."""
    folder = base / "entity-model"
    folder.mkdir()
    events = folder / "events.csv"
    world = SynthConfig(users=600, items=1200, categories=20, shops=30, search_rate=0.5)
    write_events(generate(world), events)
    root = folder / "artifacts"
    version = train(events, root, TrainConfig().with_overrides(ENTITIES), progress=False)
    return Trained(root, version, events)


@pytest.fixture(scope="session")
def entity_model(entity_trained: Trained) -> Model:
    return load_model(entity_trained.root, entity_trained.version)


@pytest.fixture(scope="session")
def model(trained: Trained) -> Model:
    """The same version, loaded directly, for tests to pick items with the right pairs."""
    return load_model(trained.root, trained.version)


@pytest.fixture
def artifacts_dir(trained: Trained, tmp_path: Path) -> Path:
    """A private copy of the artifact folder (tests may publish into it or break it)."""
    return trained.copy_to(tmp_path / "artifacts")


ADMIN_TOKEN = "test-admin-token-0123456789"


def make_client(
    artifacts_dir: Path, redis_url: str, headers: dict[str, str] | None = None, **settings: object
) -> TestClient:
    """A client of the app with ``settings``; it sends the admin token unless ``headers`` says
    otherwise (test_auth.py)."""
    values = {"artifacts_dir": artifacts_dir, "redis_url": redis_url, "admin_token": ADMIN_TOKEN}
    # a generous Redis timeout: a CI machine busy training in the other test worker must not
    # turn a plain test's answer into a degraded one (test_degraded.py sets a short one)
    values |= {"reload_interval_seconds": 0, "redis_timeout_ms": 1000} | settings
    if headers is None:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return TestClient(create_app(Settings.model_validate(values)), headers=headers)


@pytest.fixture
def client(artifacts_dir: Path, redis_url: str) -> Iterator[TestClient]:
    with make_client(artifacts_dir, redis_url) as c:
        yield c


def republish(root: Path, version: str, **changes: object) -> str:
    """Publish a copy of ``version`` with some manifest fields changed (e.g. ``blend``) and make
    it CURRENT: through the trainer's publish path, so every file is hashed anew."""
    source = artifacts.version_dir(root, version)
    fields = artifacts.load_manifest(source).model_dump(exclude=PUBLISH_OWNS)
    with artifacts.stage_version(root) as stage:
        ignore = shutil.ignore_patterns(artifacts.MANIFEST)
        shutil.copytree(source, stage.path, dirs_exist_ok=True, ignore=ignore)
        return stage.publish(fields | changes)


def problems(response) -> str:
    """A 422's messages with their fields (``query.k: …``), one per line; asserts the shape
    every 422 shares: ``detail`` a list of ``{loc, msg, type}`` (docs/api.md "Errors")."""
    assert response.status_code == 422, response.text[:300]
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail, detail
    assert all(set(e) == {"loc", "msg", "type"} for e in detail), detail
    return "\n".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in detail)


def items_with(model: Model, *interactions: Interaction, without: Interaction | None = None):
    """Item ids that have a pair for every one of ``interactions`` (and none for ``without``)."""
    table = model.item_token
    keep = np.all(table[:, list(interactions)] >= 0, axis=1)
    if without is not None:
        keep &= table[:, without] < 0
    return [model.item_ids[r] for r in np.flatnonzero(keep)]
