"""Reloads shared by the workers of one instance: one at a time, each version hashed once.

Every worker loads each new version itself (a model lives in its process), but two things are
better done together, through files in a runtime folder private to the instance
(``RUNTIME_DIR``; ``python -m service`` makes one for its workers):

* **Turns.** Workers load one at a time (an exclusive ``flock``): loading a large version holds
  a core and, inside hnswlib, the GIL for seconds; while one worker loads, the others serve.
* **Verified once.** Hashing every file of a multi-GB version costs seconds of CPU per worker.
  The first worker to verify a version records each file's size, mtime and inode; a later
  worker whose files still match that record checks sizes and shapes but skips the hashes.
  Versions are immutable and the record lives only as long as the instance, so a match means
  the same bytes unless they were rewritten in place with their mtime forged.

* **Who serves what.** Each worker records the versions it holds (``serving-<pid>``: the served
  one, then a canary's if it has one loaded). A worker
  that cannot load any model while a live peer serves one waits for a model without listening
  (``service/app.py``), so it takes no share of the instance's traffic instead of answering 503.

Without a runtime folder (one worker, tests) every load hashes everything and nothing waits.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from contracts import artifacts

LOCK = "reload.lock"
SERVING = "serving-"


class ReloadCoordinator:
    """Turns and verification records in ``runtime_dir`` (None: no coordination)."""

    def __init__(self, runtime_dir: Path | None) -> None:
        self.runtime_dir = runtime_dir
        if runtime_dir is not None:
            runtime_dir.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the instance's reload turn (blocks while another worker loads)."""
        if self.runtime_dir is None:
            yield
            return
        with open(self.runtime_dir / LOCK, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def is_verified(self, version_dir: Path) -> bool:
        """Whether another worker hashed this version and its files are unchanged since."""
        if self.runtime_dir is None:
            return False
        try:
            recorded = json.loads(self._record(version_dir).read_text(encoding="utf-8"))
            return bool(recorded == _fingerprint(version_dir))
        except (OSError, ValueError, artifacts.ArtifactError):
            return False

    def mark_verified(self, version_dir: Path) -> None:
        """Record that every file of the version was hashed and matched (atomic write)."""
        if self.runtime_dir is None:
            return
        record = self._record(version_dir)
        partial = record.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(_fingerprint(version_dir)), encoding="utf-8")
        partial.replace(record)

    def record_serving(self, *versions: str) -> None:
        """Record that this worker holds ``versions`` (atomic write, one per line)."""
        if self.runtime_dir is None:
            return
        record = self.runtime_dir / f"{SERVING}{os.getpid()}"
        partial = record.with_suffix(".tmp")
        partial.write_text("\n".join(versions), encoding="utf-8")
        partial.replace(record)

    def peers_serving(self) -> dict[int, tuple[str, ...]]:
        """The versions other live workers of this instance hold, by process id."""
        if self.runtime_dir is None:
            return {}
        found = {}
        for record in self.runtime_dir.glob(f"{SERVING}*"):
            pid = record.name.removeprefix(SERVING)
            if not pid.isdigit() or int(pid) == os.getpid() or not _alive(int(pid)):
                continue
            try:
                found[int(pid)] = tuple(record.read_text(encoding="utf-8").split())
            except OSError:
                continue
        return found

    def _record(self, version_dir: Path) -> Path:
        assert self.runtime_dir is not None
        return self.runtime_dir / f"verified-{version_dir.name}.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fingerprint(version_dir: Path) -> dict[str, list[int]]:
    """(size, mtime_ns, inode) of the manifest and of every file it lists."""
    names = [artifacts.MANIFEST, *artifacts.load_manifest(version_dir).files]
    stats = {name: (version_dir / name).stat() for name in names}
    return {name: [s.st_size, s.st_mtime_ns, s.st_ino] for name, s in stats.items()}
