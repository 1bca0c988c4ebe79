"""The local copies of versions fetched from an object store (``ARTIFACTS_DIR=s3://…``).

A version must be on a local disk to be memory-mapped, so the service downloads it into
``ARTIFACTS_CACHE_DIR/versions/<version>`` (``contracts/s3.py``: staged, every file hashed as
it lands, renamed into place whole) and loads it from there. The folder belongs to one instance:
its workers share it, download into it in their reload turns (service/coordination.py) so a
version is downloaded once per pod, and remove the versions none of them serves any more.
Unset, it is a folder in ``RUNTIME_DIR`` (several workers) or a temporary folder of the process
(one worker), removed when the service stops.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Collection
from pathlib import Path

from contracts import artifacts

log = logging.getLogger("service.registry")

CACHE = "artifacts-cache"
"""The cache's folder name inside RUNTIME_DIR when ARTIFACTS_CACHE_DIR is unset."""


class ArtifactCache:
    """A folder in the artifact layout holding the versions this instance fetched."""

    def __init__(self, folder: Path | None, runtime_dir: Path | None) -> None:
        self._owned = folder is None and runtime_dir is None
        if folder is None:
            folder = runtime_dir / CACHE if runtime_dir else Path(tempfile.mkdtemp(prefix="ic-"))
        self.folder = folder
        artifacts.versions_dir(folder).mkdir(parents=True, exist_ok=True)

    def prune(self, keep: Collection[str]) -> list[str]:
        """Remove every cached version not in ``keep``, and downloads abandoned half-way.
        Call it in the instance's reload turn: downloads happen in that turn too. A version
        a worker still has memory-mapped stays readable to it (the pages outlive the names)."""
        root = artifacts.versions_dir(self.folder)
        removed = []
        for entry in sorted(root.iterdir()) if root.is_dir() else ():
            if entry.name.startswith(".") or entry.name not in keep:
                trash = root / f".del-{entry.name}-{os.getpid()}"
                try:
                    os.rename(entry, trash)
                except OSError:
                    continue  # removed by a peer meanwhile
                shutil.rmtree(trash, ignore_errors=True)
                if not entry.name.startswith("."):
                    removed.append(entry.name)
        if removed:
            log.info("removed cached versions", extra={"versions": removed})
        return removed

    def close(self) -> None:
        """Remove the folder if this process made it (a temporary folder of its own)."""
        if self._owned:
            shutil.rmtree(self.folder, ignore_errors=True)
