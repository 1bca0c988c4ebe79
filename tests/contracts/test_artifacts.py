"""The artifact directory: publishing, verifying, pruning, rolling back, surviving crashes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from contracts.artifacts import (
    CURRENT,
    ITEMS,
    MANIFEST,
    PAIRS_IN,
    SCHEMA_VERSION,
    STEPS,
    VERSIONS,
    ChecksumMismatchError,
    CurrentError,
    IndexInfo,
    ManifestMissingError,
    MissingFileError,
    SchemaVersionError,
    SizeMismatchError,
    TrainingStats,
    VersionMismatchError,
    file_entry,
    index_path,
    list_versions,
    load_manifest,
    new_version_id,
    prune,
    read_current,
    set_current,
    stage_version,
    verify_version,
    version_dir,
)

VIEW_INDEX = index_path("view", "cosine")


def manifest_fields() -> dict[str, Any]:
    """What a trainer hands to publish: everything but the fields publish fills itself."""
    stats = TrainingStats(
        tokens=1000, seconds=2.0, threads=1, epochs=1, compile_seconds=0.5, tokens_per_second=500
    )
    view = IndexInfo(
        name="view",
        interaction="view",
        similarity="cosine",
        space="cosine",
        file=VIEW_INDEX,
        count=3,
        dim=4,
        M=16,
        ef_construction=64,
        ef_search=128,
        stored_vectors="out",
        recall={"recall@10": 1.0},
        recall_sample=3,
    )
    return {
        "config": {"dim": 4, "seed": 1},
        "data": {"events": 12, "sessions": 2},
        "dim": 4,
        "similarity": "cosine",
        "training": {"pairs": stats, "items": stats.model_dump()},
        "indexes": [view],
    }


def publish(
    artifacts: Path, keep: int | None = None, on_step: Callable[[str], None] | None = None
) -> str:
    """Publish a small but complete version and return its id."""
    with stage_version(artifacts, on_step=on_step) as stage:
        (stage.path / ITEMS).write_text("a\t1\nb\t1\nc\t2\n", encoding="utf-8")
        (stage.path / "embeddings").mkdir()
        np.save(stage.path / PAIRS_IN, np.arange(12, dtype=np.float32).reshape(3, 4))
        (stage.path / "index").mkdir()
        (stage.path / VIEW_INDEX).write_bytes(os.urandom(256))
        return stage.publish(manifest_fields(), keep=keep)


def staging_folders(artifacts: Path) -> list[str]:
    folder = artifacts / VERSIONS
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.is_dir())


def test_publish_points_current_at_a_version_that_verifies(tmp_path: Path) -> None:
    version = publish(tmp_path)
    assert read_current(tmp_path) == version
    manifest = verify_version(version_dir(tmp_path, version))
    assert (manifest.schema_version, manifest.version) == (SCHEMA_VERSION, version)
    assert manifest.created_at.utcoffset() is not None
    assert manifest.index("view").stored_vectors == "out"
    assert staging_folders(tmp_path) == []


def test_manifest_lists_every_file_with_its_size_and_sha256(tmp_path: Path) -> None:
    folder = version_dir(tmp_path, publish(tmp_path))
    files = load_manifest(folder).files
    assert sorted(files) == sorted([ITEMS, PAIRS_IN, VIEW_INDEX])
    assert all(files[name] == file_entry(folder / name) for name in files)


def test_second_publish_keeps_the_first(tmp_path: Path) -> None:
    first = publish(tmp_path)
    second = publish(tmp_path)
    assert list_versions(tmp_path) == [first, second]
    assert read_current(tmp_path) == second
    verify_version(version_dir(tmp_path, first))


def test_publish_prunes_to_the_last_n_versions(tmp_path: Path) -> None:
    made = [publish(tmp_path, keep=2) for _ in range(4)]
    assert list_versions(tmp_path) == made[-2:]


def test_prune_never_deletes_the_current_version(tmp_path: Path) -> None:
    made = [publish(tmp_path) for _ in range(4)]
    set_current(tmp_path, made[0])
    assert prune(tmp_path, keep=2) == [made[1]]
    assert list_versions(tmp_path) == [made[0], made[2], made[3]]


def test_prune_spares_live_stagers_and_removes_abandoned_ones_whatever_their_pid(
    tmp_path: Path,
) -> None:
    publish(tmp_path)
    with stage_version(tmp_path) as live:
        # a crashed stager whose pid is alive again (pid 1 in the next trainer's container)
        abandoned = tmp_path / VERSIONS / f".tmp-20990101T000000Z-bbbbbb-{os.getpid()}"
        abandoned.mkdir()
        (abandoned.parent / (abandoned.name + ".lease")).touch()  # its lock died with it
        left_over = tmp_path / VERSIONS / ".del-20000101T000000Z-cccccc-1"
        left_over.mkdir()
        publish(tmp_path)
        assert staging_folders(tmp_path) == [live.path.name]
    assert staging_folders(tmp_path) == []
    assert not list((tmp_path / VERSIONS).glob("*.lease"))


def test_leaving_the_stage_without_publishing_removes_the_temp_folder(tmp_path: Path) -> None:
    with pytest.raises(KeyError), stage_version(tmp_path) as stage:
        (stage.path / ITEMS).write_text("a\t1\n", encoding="utf-8")
        raise KeyError("trainer failed")
    assert not stage.path.exists()
    assert read_current(tmp_path) is None and list_versions(tmp_path) == []


def test_one_changed_byte_is_refused_naming_the_file_and_both_digests(tmp_path: Path) -> None:
    folder = version_dir(tmp_path, publish(tmp_path))
    published = load_manifest(folder).files[VIEW_INDEX].sha256
    data = bytearray((folder / VIEW_INDEX).read_bytes())
    data[100] ^= 0xFF
    (folder / VIEW_INDEX).write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError) as caught:
        verify_version(folder)
    assert caught.value.file == VIEW_INDEX
    assert VIEW_INDEX in str(caught.value) and published in str(caught.value)
    assert file_entry(folder / VIEW_INDEX).sha256 in str(caught.value)
    verify_version(folder, check_hashes=False)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    folder = version_dir(tmp_path, publish(tmp_path))
    (folder / PAIRS_IN).unlink()
    with pytest.raises(MissingFileError, match=re.escape(PAIRS_IN)):
        verify_version(folder, check_hashes=False)


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    folder = version_dir(tmp_path, publish(tmp_path))
    (folder / ITEMS).write_text("a\t1\n", encoding="utf-8")
    with pytest.raises(SizeMismatchError, match=re.escape(ITEMS)):
        verify_version(folder, check_hashes=False)


def test_a_manifest_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    folder = version_dir(tmp_path, publish(tmp_path))
    raw = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    (folder / MANIFEST).write_text(json.dumps({**raw, "schema_version": 99}), encoding="utf-8")
    with pytest.raises(SchemaVersionError, match="99"):
        verify_version(folder)


def test_a_missing_manifest_is_refused(tmp_path: Path) -> None:
    folder = version_dir(tmp_path, publish(tmp_path))
    (folder / MANIFEST).unlink()
    with pytest.raises(ManifestMissingError):
        verify_version(folder)


def test_a_renamed_version_folder_is_refused(tmp_path: Path) -> None:
    folder = version_dir(tmp_path, publish(tmp_path))
    moved = folder.rename(folder.with_name("20000101T000000Z-000000"))
    with pytest.raises(VersionMismatchError):
        verify_version(moved)


def test_set_current_rolls_back_to_a_good_version_and_refuses_a_damaged_one(
    tmp_path: Path,
) -> None:
    first, second = publish(tmp_path), publish(tmp_path)
    set_current(tmp_path, first)
    assert read_current(tmp_path) == first
    (version_dir(tmp_path, second) / PAIRS_IN).unlink()
    with pytest.raises(MissingFileError):
        set_current(tmp_path, second)
    assert read_current(tmp_path) == first


def test_version_ids_sort_by_time_and_differ_within_a_second() -> None:
    moment = datetime(2026, 11, 23, 3, 19, tzinfo=UTC)
    same_second = {new_version_id(moment) for _ in range(1000)}
    assert len(same_second) == 1000
    assert all(v.startswith("20261123T031900Z-") and len(v) == 23 for v in same_second)
    later = new_version_id(datetime(2026, 11, 23, 3, 19, 1, tzinfo=UTC))
    assert max(same_second) < later
    with pytest.raises(ValueError):
        new_version_id(datetime(2026, 11, 23))


def test_read_current_is_none_before_the_first_publish(tmp_path: Path) -> None:
    assert read_current(tmp_path) is None
    assert list_versions(tmp_path) == []


def test_a_current_that_is_not_a_version_id_is_refused(tmp_path: Path) -> None:
    (tmp_path / CURRENT).write_text("../../etc\n", encoding="utf-8")
    with pytest.raises(CurrentError, match="set_current"):
        read_current(tmp_path)


def test_index_paths_have_one_spelling() -> None:
    assert index_path("cart", "inner_product") == "index/cart.inner_product.hnsw"
    assert index_path("item", "cosine") == "index/item.cosine.hnsw"
    with pytest.raises(ValueError):
        index_path("click", "cosine")


def test_index_info_refuses_a_space_that_does_not_implement_its_similarity() -> None:
    fields = manifest_fields()["indexes"][0].model_dump()
    with pytest.raises(ValueError, match="needs space"):
        IndexInfo.model_validate({**fields, "space": "ip"})


CRASH_SCRIPT = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from test_artifacts import publish

def die(step):
    if step == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)

publish(Path(sys.argv[1]), keep=1, on_step=die)
"""


def publish_and_die_at(artifacts: Path, step: str) -> None:
    here = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(artifacts), step, here],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == -9, done.stderr.decode()


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_any_step_leaves_a_current_version_that_verifies(
    tmp_path: Path, step: str
) -> None:
    before = publish(tmp_path)
    publish_and_die_at(tmp_path, step)
    current = read_current(tmp_path)
    assert current is not None
    assert (current == before) == (STEPS.index(step) < STEPS.index("current-replaced"))
    verify_version(version_dir(tmp_path, current))
    later = publish(tmp_path, keep=1)
    assert read_current(tmp_path) == later
    assert staging_folders(tmp_path) == []


def test_a_crash_during_the_first_publish_leaves_no_current(tmp_path: Path) -> None:
    publish_and_die_at(tmp_path, "current-tmp-written")
    assert read_current(tmp_path) is None
    assert publish(tmp_path) == read_current(tmp_path)
