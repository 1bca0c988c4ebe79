"""Workers of one instance reload in turns and hash each version once (service/coordination.py)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from contracts import artifacts
from service.coordination import ReloadCoordinator
from service.registry import ModelRegistry


def flip_a_byte_in_place(path: Path, keep_mtime: bool) -> None:
    """Change one byte without changing size or inode; optionally restore the mtime."""
    before = path.stat()
    with open(path, "r+b") as f:
        f.seek(before.st_size // 2)
        byte = f.read(1)
        f.seek(before.st_size // 2)
        f.write(bytes([byte[0] ^ 0x01]))
    if keep_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_a_version_hashed_by_one_worker_is_not_hashed_again_by_the_next(
    trained, artifacts_dir, tmp_path
):
    runtime = tmp_path / "runtime"
    assert ModelRegistry(artifacts_dir, runtime_dir=runtime).reload().result == "loaded"
    folder = artifacts.version_dir(artifacts_dir, trained.version)
    assert ReloadCoordinator(runtime).is_verified(folder)
    # a change hashing would catch but the record cannot see (same size, inode and mtime)
    flip_a_byte_in_place(folder / artifacts.PAIRS_IN, keep_mtime=True)
    assert ModelRegistry(artifacts_dir, runtime_dir=runtime).reload().result == "loaded"
    # without the shared record, the same worker hashes and refuses it
    assert ModelRegistry(artifacts_dir).reload().result == "refused"


def test_a_file_changed_after_it_was_hashed_is_hashed_again_and_refused(
    trained, artifacts_dir, tmp_path
):
    runtime = tmp_path / "runtime"
    assert ModelRegistry(artifacts_dir, runtime_dir=runtime).reload().result == "loaded"
    folder = artifacts.version_dir(artifacts_dir, trained.version)
    flip_a_byte_in_place(folder / artifacts.PAIRS_IN, keep_mtime=False)
    assert not ReloadCoordinator(runtime).is_verified(folder)
    result = ModelRegistry(artifacts_dir, runtime_dir=runtime).reload()
    assert result.result == "refused" and "sha256" in result.detail


def test_workers_load_one_at_a_time(trained, artifacts_dir, tmp_path):
    runtime = tmp_path / "runtime"
    registry = ModelRegistry(artifacts_dir, runtime_dir=runtime)
    results = []
    with ReloadCoordinator(runtime).turn():  # another worker is loading
        loader = threading.Thread(target=lambda: results.append(registry.reload()))
        loader.start()
        loader.join(timeout=1.0)
        assert loader.is_alive() and registry.model is None
    loader.join(timeout=60)
    assert [r.result for r in results] == ["loaded"]
