"""Versions in S3-compatible object storage, against a real S3-API server (moto_server): the
folder's guarantees — immutable versions, manifests with every sha256, CURRENT written last,
crashes leaving CURRENT on a complete version — and clear errors for bad URLs and stores."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from object_store import MotoServer
from test_artifacts import VIEW_INDEX, manifest_fields

from contracts import artifacts
from contracts.s3 import S3_STEPS, S3Store
from contracts.storage import (
    LocationError,
    S3Location,
    StoreError,
    open_store,
    parse_location,
)


def publish(url: str, keep: int | None = None, on_step: Callable[[str], None] | None = None) -> str:
    """Publish the same small complete version as test_artifacts.publish, to ``url``."""
    with open_store(url).stage(on_step=on_step) as stage:
        (stage.path / artifacts.ITEMS).write_text("a\t1\nb\t1\nc\t2\n", encoding="utf-8")
        (stage.path / "embeddings").mkdir()
        np.save(stage.path / artifacts.PAIRS_IN, np.arange(12, dtype=np.float32).reshape(3, 4))
        (stage.path / "index").mkdir()
        (stage.path / VIEW_INDEX).write_bytes(os.urandom(256))
        return stage.publish(manifest_fields(), keep=keep)


def keys(server: MotoServer, url: str) -> list[str]:
    location = parse_location(url)
    assert isinstance(location, S3Location)
    found = server.client().list_objects_v2(Bucket=location.bucket, Prefix=location.prefix)
    names = [obj["Key"] for obj in found.get("Contents", [])]
    return sorted(name.removeprefix(location.prefix + "/") for name in names)


def overwrite(server: MotoServer, url: str, version: str, name: str, data: bytes) -> None:
    location = parse_location(url)
    assert isinstance(location, S3Location)
    key = location.key(artifacts.VERSIONS, version, name)
    server.client().put_object(Bucket=location.bucket, Key=key, Body=data)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("s3://", "names no bucket"),
        ("s3:///models", "names no bucket"),
        ("s3:/bucket/models", "not a URL of the form"),
        ("s3:bucket", "not a URL of the form"),
        ("gs://bucket/models", "unknown scheme 'gs:'"),
        ("https://example.com/models", "unknown scheme"),
        ("s3://Not_A_Bucket/x", "is not a bucket name"),
        ("s3://bucket/../x", "'..'"),
    ],
)
def test_a_malformed_or_unknown_url_is_refused_never_taken_for_a_folder(
    text: str, problem: str
) -> None:
    with pytest.raises(LocationError, match=problem):
        parse_location(text)


def test_folders_stay_folders_and_s3_urls_name_bucket_and_prefix() -> None:
    assert parse_location("artifacts") == Path("artifacts")
    assert parse_location("./odd:name") == Path("odd:name")
    assert parse_location("s3://bucket/a//b/") == S3Location("bucket", "a/b")
    assert str(parse_location("s3://bucket")) == "s3://bucket"


def test_publish_writes_the_folder_layout_under_the_prefix_and_current_last(
    s3_server: MotoServer, s3_url: str
) -> None:
    steps: list[str] = []
    version = publish(s3_url, on_step=steps.append)
    files = [artifacts.ITEMS, artifacts.PAIRS_IN, VIEW_INDEX]
    assert keys(s3_server, s3_url) == sorted(
        [artifacts.CURRENT]
        + [f"{artifacts.VERSIONS}/{version}/{name}" for name in [*files, artifacts.MANIFEST]]
    )
    assert steps == ["file-uploaded"] * 3 + list(S3_STEPS[1:])
    store = open_store(s3_url)
    assert store.read_current() == version and store.list_versions() == [version]
    manifest = store.verify(version)
    assert sorted(manifest.files) == sorted(files)


def test_a_published_version_is_never_overwritten(s3_url: str, tmp_path: Path) -> None:
    version = publish(s3_url)
    store = open_store(s3_url)
    assert isinstance(store, S3Store)
    root, _ = store.fetch(version, tmp_path)
    with pytest.raises(StoreError, match="immutable"):
        store.upload(artifacts.version_dir(root, version), version, lambda step: None)
    store.verify(version)


def test_prune_keeps_the_newest_versions_and_never_the_current_one(s3_url: str) -> None:
    made = [publish(s3_url, keep=2) for _ in range(3)]
    store = open_store(s3_url)
    assert store.list_versions() == made[1:]
    made.append(publish(s3_url))
    store.set_current(made[1])
    assert isinstance(store, S3Store)
    assert store.prune(keep=1) == [made[2]]
    assert store.list_versions() == [made[1], made[3]]


def test_verify_and_rollback_refuse_a_changed_object(s3_server: MotoServer, s3_url: str) -> None:
    first, second = publish(s3_url), publish(s3_url)
    overwrite(s3_server, s3_url, first, artifacts.ITEMS, b"a\t1\nb\t1\nc\t3\n")
    store = open_store(s3_url)
    with pytest.raises(artifacts.ChecksumMismatchError, match=artifacts.ITEMS):
        store.verify(first)
    with pytest.raises(artifacts.ChecksumMismatchError):
        store.set_current(first)
    assert store.read_current() == second


def test_fetch_downloads_a_verified_copy_and_keeps_nothing_of_a_bad_one(
    s3_server: MotoServer, s3_url: str, tmp_path: Path
) -> None:
    good, bad = publish(s3_url), publish(s3_url)
    overwrite(s3_server, s3_url, bad, VIEW_INDEX, os.urandom(256))
    store = open_store(s3_url)
    assert store.fetch(good, tmp_path) == (tmp_path, True)
    artifacts.verify_version(artifacts.version_dir(tmp_path, good))
    assert store.fetch(good, tmp_path) == (tmp_path, False)  # already there: not downloaded
    with pytest.raises(artifacts.ChecksumMismatchError, match=VIEW_INDEX):
        store.fetch(bad, tmp_path)
    assert artifacts.list_versions(tmp_path) == [good]
    assert [p.name for p in (tmp_path / artifacts.VERSIONS).iterdir()] == [good]


def test_a_failed_upload_leaves_current_and_removes_what_it_uploaded(
    s3_server: MotoServer, s3_url: str
) -> None:
    before = publish(s3_url)

    def fail(step: str) -> None:
        if step == "file-uploaded":
            raise ConnectionError("the network went away")

    with pytest.raises(ConnectionError):
        publish(s3_url, on_step=fail)
    assert open_store(s3_url).read_current() == before
    own = f"{artifacts.VERSIONS}/{before}/"
    assert all(k == artifacts.CURRENT or k.startswith(own) for k in keys(s3_server, s3_url))


CRASH_SCRIPT = """
import os, signal, sys
sys.path[:0] = sys.argv[3:]
from test_s3_store import publish

seen = []
def die(step):
    seen.append(step)
    if step == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)

publish(sys.argv[1], keep=1, on_step=die)
"""


@pytest.mark.parametrize("step", S3_STEPS)
def test_a_crash_at_any_upload_step_leaves_current_on_a_complete_version(
    s3_url: str, step: str
) -> None:
    before = publish(s3_url)
    here, tests = Path(__file__).parent, Path(__file__).parents[1]
    done = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, s3_url, step, str(here), str(tests)],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    store = open_store(s3_url)
    current = store.read_current()
    assert (current == before) == (S3_STEPS.index(step) < S3_STEPS.index("current-replaced"))
    assert current is not None and store.verify(current)
    assert current in store.list_versions()  # a version without its manifest is never listed
    later = publish(s3_url, keep=1)  # (ids of one second sort by their random suffix)
    assert store.read_current() == later and later in store.list_versions()
    assert len(store.list_versions()) <= 2


def test_an_unreachable_endpoint_is_a_clear_store_error(
    s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from demo.redis import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(StoreError, match="Could not connect to the endpoint"):
        open_store(s3_url).read_current()
    assert time.monotonic() - started < 30


def test_missing_credentials_are_named(
    s3_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(StoreError, match=r"no AWS credentials.*AWS_ACCESS_KEY_ID"):
        open_store(s3_url).check()


def test_a_missing_bucket_is_named(s3_server: MotoServer) -> None:
    with pytest.raises(StoreError, match="bucket 'no-such-bucket' does not exist"):
        open_store("s3://no-such-bucket/models").check()
