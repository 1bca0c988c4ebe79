"""Serving from object storage (``ARTIFACTS_DIR=s3://…``) against a real S3-API server: the
service downloads a version into its cache, verifies every sha256, serves it, hot-swaps to a
newer one, refuses a damaged one while the old keeps serving, and says why when the store
cannot be reached."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import object_store
import pytest

from contracts import artifacts
from contracts.s3 import S3Store
from contracts.storage import S3Location, open_store
from demo.redis import free_port
from service.settings import Settings

from app_fixtures import Trained, make_client
from running import refused_start, running_service, wait_until

s3_server = object_store.s3_server  # fixtures (tests/object_store.py)
s3_url = object_store.s3_url


@pytest.fixture
def s3_model(trained: Trained, s3_url: str) -> str:
    """``s3_url`` holding the session's trained version, CURRENT naming it."""
    store = open_store(s3_url)
    assert isinstance(store, S3Store)
    store.upload(
        artifacts.version_dir(trained.root, trained.version), trained.version, lambda step: None
    )
    store.set_current(trained.version)
    return s3_url


def cached(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / artifacts.VERSIONS).iterdir())


def damage(server: object_store.MotoServer, url: str, version: str, name: str, how: str) -> None:
    """Flip one byte of a published object in place (same size), or delete it."""
    location = open_store(url).location
    assert isinstance(location, S3Location)
    key = location.key(artifacts.VERSIONS, version, name)
    client = server.client()
    if how == "missing":
        client.delete_object(Bucket=location.bucket, Key=key)
        return
    data = bytearray(client.get_object(Bucket=location.bucket, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0x01
    client.put_object(Bucket=location.bucket, Key=key, Body=bytes(data))


def test_the_service_serves_from_s3_and_hot_swaps_to_a_new_version(
    trained: Trained, s3_model: str, redis_url: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    with make_client(s3_model, redis_url, artifacts_cache_dir=cache) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["model_version"] == trained.version
        assert client.get("/v1/users/u1/candidates").headers["X-Model-Version"] == trained.version
        assert cached(cache) == [trained.version]
        new = trained.publish_another(s3_model)  # the trainer publishing to s3 itself
        assert client.post("/admin/reload").json()["result"] == "loaded"
        assert client.get("/v1/users/u1/candidates").headers["X-Model-Version"] == new
        assert cached(cache) == [new]  # the old copy is removed once not served
        artifacts.verify_version(artifacts.version_dir(cache, new))


@pytest.mark.parametrize(("how", "said"), [("changed", "sha256"), ("missing", "missing")])
def test_a_damaged_object_is_refused_and_the_old_version_keeps_serving(
    trained: Trained,
    s3_model: str,
    s3_server: object_store.MotoServer,
    redis_url: str,
    tmp_path: Path,
    how: str,
    said: str,
) -> None:
    cache = tmp_path / "cache"
    with make_client(s3_model, redis_url, artifacts_cache_dir=cache) as client:
        bad = trained.publish_another(s3_model)
        damage(s3_server, s3_model, bad, artifacts.PAIRS_IN, how)
        result = client.post("/admin/reload").json()
        assert result["result"] == "refused" and result["model_version"] == trained.version
        assert artifacts.PAIRS_IN in result["detail"] and said in result["detail"]
        assert client.get("/readyz").json()["model_version"] == trained.version
        assert client.get("/v1/users/u1/candidates").headers["X-Model-Version"] == trained.version
        assert 'ic_reloads_total{result="failed"}' in client.get("/metrics").text
        assert cached(cache) == [trained.version]  # nothing of the damaged download is kept


def test_an_unreachable_store_is_reported_and_a_served_model_keeps_serving(
    trained: Trained,
    s3_model: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    with make_client(s3_model, redis_url) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "cannot read CURRENT" in ready.json()["detail"]
        assert "Could not connect to the endpoint" in ready.json()["detail"]
        logged = [json.loads(line) for line in capfd.readouterr().err.splitlines() if "{" in line]
        failed = [r for r in logged if r.get("message") == "model reload failed"]
        assert failed and "Could not connect to the endpoint" in failed[0]["reason"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    with make_client(s3_model, redis_url) as client:
        assert client.get("/readyz").json()["model_version"] == trained.version
        registry = client.app.state.registry  # type: ignore[attr-defined]
        registry._store = None  # the next reload opens a client on the (now) dead endpoint
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
        result = client.post("/admin/reload").json()
        assert result["result"] == "refused" and "Could not connect" in result["detail"]
        assert client.get("/readyz").json()["model_version"] == trained.version


@pytest.mark.parametrize("url", ["s3://", "s3:/bucket/models", "gs://bucket/models"])
def test_a_malformed_artifacts_url_is_a_settings_error_naming_it(url: str) -> None:
    with pytest.raises(ValueError, match="artifacts_dir"):
        Settings(artifacts_dir=url)
    (line,) = refused_start(ARTIFACTS_DIR=url)
    assert line.startswith("invalid setting ARTIFACTS_DIR: ")


def test_python_m_service_with_two_workers_downloads_each_version_once_and_follows_current(
    trained: Trained, s3_model: str, redis_url: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    env = {"ARTIFACTS_CACHE_DIR": str(cache), "LOG_LEVEL": "INFO"}
    with running_service(s3_model, redis_url, tmp_path, workers=2, **env) as service:
        new = trained.publish_another(s3_model)

        def both_serve(version: str) -> bool:
            with urllib.request.urlopen(service.url + "/metrics", timeout=5) as response:
                text = response.read().decode()
            lines = [line for line in text.splitlines() if line.startswith("ic_model_info{")]
            return len(lines) == 2 and all(f'version="{version}"' in line for line in lines)

        wait_until(lambda: both_serve(new), 120)
        wait_until(lambda: cached(cache) == [new], 30)
        log = [json.loads(line) for line in service.log.read_text().splitlines() if "{" in line]
        downloads = [r["version"] for r in log if r.get("message") == "downloaded model version"]
        assert sorted(downloads) == sorted([trained.version, new])
