"""Hot reload: new versions swap in under load without a failed request; bad ones are refused."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

from contracts import artifacts
from service.registry import ModelRegistry, ReloadResult

from app_fixtures import make_client


def hammer(client, stop: threading.Event, statuses: list[int], versions: set[str]) -> None:
    while not stop.is_set():
        for path in ("/v1/users/u1/candidates?k=20", "/v1/items/missing-item/neighbors"):
            response = client.get(path)
            statuses.append(response.status_code)
            if "X-Model-Version" in response.headers:
                versions.add(response.headers["X-Model-Version"])


def test_a_new_version_is_served_while_requests_run_without_a_single_failure(
    trained, artifacts_dir, redis_url
):
    new = trained.publish_another(artifacts_dir)
    artifacts.set_current(artifacts_dir, trained.version)
    with make_client(artifacts_dir, redis_url) as client:
        stop, statuses, versions = threading.Event(), [], set()
        workers = [
            threading.Thread(target=hammer, args=(client, stop, statuses, versions))
            for _ in range(4)
        ]
        for w in workers:
            w.start()
        try:
            artifacts.set_current(artifacts_dir, new)
            assert client.post("/admin/reload").json()["result"] == "loaded"
            assert client.get("/readyz").json()["model_version"] == new
        finally:
            stop.set()
            for w in workers:
                w.join()
        assert statuses and set(statuses) <= {200, 404}
        assert versions == {trained.version, new}


def corrupt_one_byte(folder: Path, relative: str) -> None:
    path = folder / relative
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_corrupted_version_is_refused_and_the_old_one_keeps_serving(
    trained, artifacts_dir, redis_url
):
    with make_client(artifacts_dir, redis_url) as client:
        bad = trained.publish_another(artifacts_dir)
        corrupt_one_byte(artifacts.version_dir(artifacts_dir, bad), artifacts.PAIRS_IN)
        result = client.post("/admin/reload").json()
        assert result["result"] == "refused"
        assert result["model_version"] == trained.version
        assert artifacts.PAIRS_IN in result["detail"]
        assert client.get("/readyz").status_code == 200
        response = client.get("/v1/users/u1/candidates")
        assert response.headers["X-Model-Version"] == trained.version
        assert 'ic_reloads_total{result="failed"}' in client.get("/metrics").text


def test_the_watcher_picks_up_a_new_current_by_itself(trained, artifacts_dir, redis_url):
    with make_client(artifacts_dir, redis_url, reload_interval_seconds=0.05) as client:
        new = trained.publish_another(artifacts_dir)
        for _ in range(200):
            if client.get("/readyz").json()["model_version"] == new:
                break
            threading.Event().wait(0.05)
        assert client.get("/readyz").json()["model_version"] == new


def test_without_a_published_model_the_service_is_alive_but_not_ready(tmp_path, redis_url):
    with make_client(tmp_path / "empty", redis_url) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "model" in ready.json()["detail"]
        assert client.get("/v1/users/u1/candidates").status_code == 503


def test_a_staggered_reload_waits_its_random_moment_before_loading(trained, artifacts_dir):
    registry = ModelRegistry(artifacts_dir)
    assert registry.reload().result == "loaded"
    new = trained.publish_another(artifacts_dir)
    random.seed(16)
    wait = random.uniform(0, 1.5)
    random.seed(16)
    started = time.monotonic()
    assert registry.reload(stagger=1.5) == ReloadResult("loaded", new)
    assert time.monotonic() - started >= wait


def test_the_watchers_jitter_never_exceeds_the_reload_interval(trained, artifacts_dir):
    registry = ModelRegistry(artifacts_dir, jitter_seconds=3600)
    registry.reload()
    registry.start(0.1)
    try:
        new = trained.publish_another(artifacts_dir)
        deadline = time.monotonic() + 30
        while registry.model.version != new and time.monotonic() < deadline:
            time.sleep(0.05)
        assert registry.model.version == new
    finally:
        registry.stop()
