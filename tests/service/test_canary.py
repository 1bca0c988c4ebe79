"""Two versions side by side: a canary version answers a stable share of the users (by a hash
of their id), a pinned version is served whatever CURRENT names, and the metrics tell the two
arms apart. Real published versions, a real Redis, the real app."""

from __future__ import annotations

import hashlib
import re
import time
import urllib.request
from pathlib import Path

import object_store
import pytest
from pydantic import ValidationError
from test_reload import corrupt_one_byte

from contracts import artifacts
from contracts.interactions import Interaction
from contracts.s3 import S3Store
from contracts.storage import open_store
from service import canary
from service.registry import ModelRegistry
from service.settings import Settings

from app_fixtures import Trained, items_with, make_client
from running import refused_start, running_service, wait_until

s3_server = object_store.s3_server  # fixtures (tests/object_store.py)
s3_url = object_store.s3_url

USERS = [f"user-{i}" for i in range(200)]
UNPUBLISHED = "20991231T235959Z-000000"


@pytest.fixture
def two_versions(trained: Trained, artifacts_dir: Path) -> tuple[str, str]:
    """(old, new): two published versions in ``artifacts_dir``, CURRENT naming the old one."""
    new = trained.publish_another(artifacts_dir)
    artifacts.set_current(artifacts_dir, trained.version)
    return trained.version, new


def with_histories(client, model) -> None:
    """Give every user of USERS a view and a cart, so that answers come from the models."""
    items = items_with(model, Interaction.VIEW, Interaction.CART)
    events = [
        {"user_id": user, "item_id": items[i % len(items)], "interaction": interaction}
        for i, user in enumerate(USERS)
        for interaction in ("view", "cart")
    ]
    assert client.post("/v1/events", json={"events": events}).status_code == 202


def versions_answering(client, users=USERS) -> dict[str, str]:
    """user → the version named by its answer (header and body agree)."""
    found = {}
    for user in users:
        response = client.get(f"/v1/users/{user}/candidates?k=5")
        assert response.status_code == 200, response.text
        assert response.headers["X-Model-Version"] == response.json()["model_version"]
        found[user] = response.json()["model_version"]
    return found


def metric(text: str, name: str, **labels: str) -> float:
    """The value of the sample of ``name`` with exactly these labels (0 when absent)."""
    shown = ",".join(f'{k}="{v}"' for k, v in labels.items())
    series = f"{name}{{{shown}}}" if labels else name
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


# --- the split


def test_a_users_bucket_is_the_documented_sha256_rule():
    for user in ("u1", "user-42", "ü-7"):
        digest = hashlib.sha256(user.encode("utf-8")).digest()
        assert canary.bucket(user) == int.from_bytes(digest[:8], "big") % 10_000
    # pinned values: a change of the rule moves users between arms, and re-rankers and
    # analytics jobs reproduce it (docs/operations.md "Canary and pinned versions")
    assert [canary.bucket(u) for u in ("u1", "user-42", "ü-7")] == [4042, 5129, 2204]


@pytest.mark.parametrize("percent", [0.5, 5, 50])
def test_the_canary_share_over_many_users_is_close_to_the_percent(percent):
    users = [f"shopper-{i}" for i in range(40_000)]
    share = sum(canary.arm(u, percent) == "canary" for u in users) / len(users) * 100
    assert abs(share - percent) < max(0.15, percent * 0.05)


def test_raising_the_percent_only_adds_users_to_the_canary():
    users = [f"shopper-{i}" for i in range(5_000)]
    at_5 = {u for u in users if canary.arm(u, 5) == "canary"}
    at_10 = {u for u in users if canary.arm(u, 10) == "canary"}
    assert at_5 < at_10
    assert all(canary.arm(u, 0) == "primary" and canary.arm(u, 100) == "canary" for u in users)


# --- the canary


def test_each_answer_names_the_version_of_its_users_arm_and_restarts_keep_the_arm(
    two_versions, artifacts_dir, redis_url, model
):
    old, new = two_versions
    settings = {"canary_version": new, "canary_percent": 30}
    expected = {u: new if canary.arm(u, 30) == "canary" else old for u in USERS}
    with make_client(artifacts_dir, redis_url, **settings) as client:
        with_histories(client, model)
        first = versions_answering(client)
        posted = client.post(f"/v1/users/{USERS[0]}/candidates", json={"k": 5})
        assert posted.json()["model_version"] == expected[USERS[0]]
        ready = client.get("/readyz").json()
        assert ready["model_version"] == old and ready["ready"]
        assert ready["canary_version"] == new and ready["canary_percent"] == 30
    assert first == expected
    assert 40 <= list(first.values()).count(new) <= 80  # 30 % of 200, give or take
    with make_client(artifacts_dir, redis_url, **settings) as restarted:  # another pod, too
        assert versions_answering(restarted) == expected


def test_neighbour_routes_answer_with_the_served_version(
    two_versions, artifacts_dir, redis_url, model
):
    old, new = two_versions
    with make_client(artifacts_dir, redis_url, canary_version=new, canary_percent=100) as client:
        response = client.get("/v1/items/missing-item/neighbors")
        assert response.status_code == 404
        assert versions_answering(client, USERS[:5]) == dict.fromkeys(USERS[:5], new)
        item = items_with(model, Interaction.VIEW)[0]
        response = client.get(f"/v1/items/{item}/neighbors?interaction=view&target=view")
        assert response.headers["X-Model-Version"] == response.json()["model_version"] == old


def test_a_refused_canary_leaves_its_users_on_the_served_version_with_a_metric(
    two_versions, artifacts_dir, redis_url
):
    old, new = two_versions
    corrupt_one_byte(artifacts.version_dir(artifacts_dir, new), artifacts.PAIRS_IN)
    with make_client(artifacts_dir, redis_url, canary_version=new, canary_percent=50) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200  # the served version decides readiness
        assert ready.json()["canary_version"] is None and ready.json()["canary_percent"] == 0
        assert f"canary {new} not loaded (refused" in ready.json()["detail"]
        before = metric(client.get("/metrics").text, "ic_canary_fallbacks_total", reason="refused")
        assert set(versions_answering(client).values()) == {old}
        text = client.get("/metrics").text
        canary_users = sum(canary.arm(u, 50) == "canary" for u in USERS)
        fallbacks = metric(text, "ic_canary_fallbacks_total", reason="refused") - before
        assert fallbacks == canary_users
        assert metric(text, "ic_reloads_total", result="failed") >= 1
        assert metric(text, "ic_canary_percent") == 0
        assert "ic_canary_info{" not in text


def test_an_unpublished_canary_is_looked_for_again_at_every_check(two_versions, artifacts_dir):
    old, new = two_versions
    folder = artifacts.version_dir(artifacts_dir, new)
    away = folder.with_name(".away")
    folder.rename(away)
    registry = ModelRegistry(artifacts_dir, canary_version=new, canary_percent=100)
    first = registry.reload()
    assert (first.result, first.version, first.canary) == ("loaded", old, None)
    assert registry.canary_problem is not None and registry.canary_problem.startswith("missing")
    assert registry.model_for("anyone") is registry.model
    away.rename(folder)
    assert registry.reload().canary == new  # not forced: a missing version is not a refused one
    assert registry.model_for("anyone") is registry.canary
    assert registry.canary is not None and registry.canary.version == new


def test_a_canary_promoted_by_current_is_one_model_for_both(two_versions, artifacts_dir):
    _, new = two_versions
    registry = ModelRegistry(artifacts_dir, canary_version=new, canary_percent=5)
    assert registry.reload().canary == new
    artifacts.set_current(artifacts_dir, new)
    assert registry.reload().result == "loaded"
    assert registry.model is registry.canary  # not loaded a second time


def test_a_canary_is_downloaded_from_object_storage_beside_the_served_version(
    trained: Trained, s3_url: str, redis_url: str, tmp_path: Path
):
    store = open_store(s3_url)
    assert isinstance(store, S3Store)
    local = tmp_path / "local"
    new = trained.publish_another(local)
    for root, version in ((trained.root, trained.version), (local, new)):
        folder = artifacts.version_dir(root, version)
        store.upload(folder, version, lambda step: None)
    store.set_current(trained.version)
    cache = tmp_path / "cache"
    settings = {"canary_version": new, "canary_percent": 50, "artifacts_cache_dir": cache}
    with make_client(s3_url, redis_url, **settings) as client:
        assert sorted(p.name for p in artifacts.versions_dir(cache).iterdir()) == sorted(
            [trained.version, new]
        )
        arms = {u: canary.arm(u, 50) for u in USERS[:40]}
        expected = {u: new if arm == "canary" else trained.version for u, arm in arms.items()}
        assert versions_answering(client, USERS[:40]) == expected
        assert client.post("/admin/reload").json()["canary_version"] == new
        assert len(list(artifacts.versions_dir(cache).iterdir())) == 2  # both kept


# --- pinning


def test_a_pinned_version_is_served_whatever_current_names(
    trained, two_versions, artifacts_dir, redis_url
):
    old, new = two_versions
    artifacts.set_current(artifacts_dir, new)
    with make_client(artifacts_dir, redis_url, pin_version=old) as client:
        ready = client.get("/readyz").json()
        assert ready["model_version"] == old and ready["pinned"]
        third = trained.publish_another(artifacts_dir, seed=3)  # CURRENT moves
        assert artifacts.read_current(artifacts_dir) == third
        reloaded = client.post("/admin/reload").json()
        assert (reloaded["result"], reloaded["model_version"]) == ("unchanged", old)
        assert set(versions_answering(client, USERS[:10]).values()) == {old}


def test_the_watcher_of_a_pinned_service_ignores_current(trained, two_versions, artifacts_dir):
    old, new = two_versions
    registry = ModelRegistry(artifacts_dir, pin=new)
    assert registry.reload().version == new
    registry.start(0.02)
    try:
        artifacts.set_current(artifacts_dir, old)
        time.sleep(0.3)
        assert registry.model is not None and registry.model.version == new
    finally:
        registry.stop()


def test_a_pinned_version_that_is_not_published_leaves_the_service_not_ready(
    artifacts_dir, redis_url
):
    with make_client(artifacts_dir, redis_url, pin_version=UNPUBLISHED) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and UNPUBLISHED in ready.json()["detail"]


def test_a_pin_and_a_canary_together(trained, two_versions, artifacts_dir, redis_url):
    old, new = two_versions
    artifacts.set_current(artifacts_dir, new)  # published, not yet trusted: canary it
    settings = {"pin_version": old, "canary_version": new, "canary_percent": 5}
    with make_client(artifacts_dir, redis_url, **settings) as client:
        expected = {u: new if canary.arm(u, 5) == "canary" else old for u in USERS}
        assert versions_answering(client) == expected


# --- metrics


def test_metrics_tell_the_arms_apart_and_forget_versions_no_longer_loaded(
    trained, two_versions, artifacts_dir, redis_url, model
):
    old, new = two_versions
    with make_client(artifacts_dir, redis_url, canary_version=new, canary_percent=50) as client:
        with_histories(client, model)
        versions_answering(client)
        text = client.get("/metrics").text
        assert metric(text, "ic_model_info", version=old) == 1
        assert metric(text, "ic_canary_info", version=new) == 1
        assert metric(text, "ic_canary_percent") == 50
        counts = {
            v: metric(text, "ic_candidates_returned_count", module="viewed", version=v)
            for v in (old, new)
        }
        assert counts[old] > 0 and counts[new] > 0
        for version in (old, new):
            assert metric(text, "ic_answer_duration_seconds_count", version=version) > 0
        third = trained.publish_another(artifacts_dir, seed=3)
        assert client.post("/admin/reload").json()["model_version"] == third
        versions_answering(client, USERS[:20])
        text = client.get("/metrics").text
        assert f'version="{old}"' not in text  # neither its gauges nor its counters
        assert metric(text, "ic_model_info", version=third) == 1
        assert metric(text, "ic_candidates_returned_count", module="viewed", version=new) > 0


def test_two_workers_split_alike_and_their_metrics_show_only_the_loaded_versions(
    trained, two_versions, artifacts_dir, redis_url, tmp_path
):
    old, new = two_versions
    env = {"CANARY_VERSION": new, "CANARY_PERCENT": "50"}
    with running_service(artifacts_dir, redis_url, tmp_path, workers=2, **env) as service:
        expected = {u: new if canary.arm(u, 50) == "canary" else old for u in USERS[:60]}
        for _ in range(2):  # new connections: the answers spread over both workers
            for user, version in expected.items():
                url = f"{service.url}/v1/users/{user}/candidates?k=3"
                with urllib.request.urlopen(url, timeout=10) as response:
                    assert response.headers["X-Model-Version"] == version
        text = scrape(service.url)
        assert per_worker(text, "ic_canary_info") == [new, new]
        for version in (old, new):
            # counters and histograms add up the workers' (no pid label)
            assert metric(text, "ic_answer_duration_seconds_count", version=version) > 0
        third = trained.publish_another(artifacts_dir, seed=3)  # CURRENT moves: both follow
        wait_until(lambda: per_worker(scrape(service.url), "ic_model_info") == [third] * 2, 120)
        text = scrape(service.url)
        assert f'version="{old}"' not in text  # no series of a version no worker holds
        assert per_worker(text, "ic_canary_info") == [new, new]


def per_worker(text: str, gauge: str) -> list[str]:
    """The versions an info gauge shows, one per worker (a sample at 1 per process id)."""
    return sorted(re.findall(rf'^{gauge}{{pid="\d+",version="([^"]+)"}} 1.0$', text, re.M))


def scrape(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        return response.read().decode()


# --- settings


def test_version_settings_take_version_ids_and_a_percent_in_hundredths():
    settings = Settings(pin_version="20261123T031900Z-3f9a2c", canary_version=" ")
    assert settings.pin_version == "20261123T031900Z-3f9a2c" and settings.canary_version is None
    assert Settings(canary_version="v2", canary_percent=0.25).canary_percent == 0.25
    for bad, field in [
        ({"pin_version": "../etc"}, "pin_version"),
        ({"canary_version": "a/b"}, "canary_version"),
        ({"canary_version": "v2", "canary_percent": 101}, "canary_percent"),
        ({"canary_version": "v2", "canary_percent": 0.005}, "canary_percent"),
        ({"canary_percent": 5}, "canary_percent"),  # a share of users, but to which version?
    ]:
        with pytest.raises(ValidationError) as caught:
            Settings(**bad)
        assert [e["loc"] for e in caught.value.errors()] == [(field,)], bad


def test_a_bad_pin_stops_the_service_with_one_line_naming_it():
    (line,) = refused_start(PIN_VERSION="../../etc")
    assert line.startswith("invalid setting PIN_VERSION: ")
