"""Where versions are published: a local folder or an S3-compatible bucket, behind one interface.

The trainer's ``--artifacts`` and the service's ``ARTIFACTS_DIR`` take either a folder or
``s3://bucket/prefix``; ``parse_location`` tells them apart and refuses anything that looks like
a URL but is not one of those (``gs://…``, ``s3:/x``, ``s3://`` without a bucket), so that a
mistyped URL can never become a local folder named ``s3:``.

A ``Store`` is the few operations publishing and reading need, whatever holds the versions:
read and move ``CURRENT``, list versions, read and verify a manifest, stage and publish a
version, fetch one into a local folder for the service to memory-map. ``LocalStore`` is the
folder layout of ``contracts/artifacts.py`` unchanged; ``S3Store`` (``contracts/s3.py``) keeps
the same layout under the prefix, with the same guarantees (docs/artifacts.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from contracts import artifacts
from contracts.manifest import ArtifactError, Manifest


class LocationError(ValueError):
    """An artifact location that is neither a folder nor ``s3://bucket[/prefix]``."""


class StoreError(ArtifactError):
    """The store cannot be reached or refuses an operation (credentials, endpoint, bucket)."""


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix``: versions live under ``prefix/`` in ``bucket``."""

    bucket: str
    prefix: str = ""  # without leading or trailing slash; "" for the bucket's root

    def key(self, *parts: str) -> str:
        """The object key of ``parts`` below the prefix (joined with ``/``)."""
        return "/".join(part for part in (self.prefix, *parts) if part)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


Location = Path | S3Location


def parse_location(value: str | os.PathLike[str] | S3Location) -> Location:
    """A folder (``Path``) or an ``S3Location``; LocationError for a malformed or unknown URL.

    Anything starting like a URL scheme (``name:``) must be ``s3://bucket[/prefix]``; a relative
    folder whose name holds a colon can be given as ``./name``.
    """
    if isinstance(value, S3Location | Path):
        return value
    text = os.fspath(value)
    if not _SCHEME.match(text):
        if not text.strip():
            raise LocationError("give a folder or s3://bucket/prefix, not an empty string")
        return Path(text)
    scheme, _, rest = text.partition(":")
    if scheme.lower() != "s3":
        raise LocationError(
            f"{text!r}: unknown scheme {scheme + ':'!r}; give a folder or s3://bucket/prefix"
        )
    if not rest.startswith("//"):
        raise LocationError(f"{text!r} is not a URL of the form s3://bucket/prefix")
    bucket, _, prefix = rest[2:].partition("/")
    if not bucket:
        raise LocationError(f"{text!r} names no bucket; give s3://bucket/prefix")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise LocationError(
            f"{text!r}: {bucket!r} is not a bucket name (3-63 of a-z, 0-9, '.', '-')"
        )
    parts = [part for part in prefix.split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise LocationError(f"{text!r}: the prefix may not contain '.' or '..' parts")
    return S3Location(bucket, "/".join(parts))


class Stage(Protocol):
    """A version being written: files go under ``path``; ``publish`` makes it CURRENT."""

    version: str
    path: Path

    def publish(self, manifest_fields: dict[str, Any], keep: int | None = None) -> str: ...

    def __enter__(self) -> Stage: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Store(Protocol):
    """The operations publishing and reading versions need, wherever the versions live."""

    location: Location

    def check(self) -> None:
        """Raise StoreError now if publishing would fail for want of access (before training)."""

    def read_current(self) -> str | None:
        """The version CURRENT names, None when there is none yet."""

    def list_versions(self) -> list[str]:
        """Published versions (those with a manifest), oldest first."""

    def load_manifest(self, version: str) -> Manifest:
        """The version's manifest (not verified against its files)."""

    def verify(self, version: str) -> Manifest:
        """The manifest once every file's size and sha256 match it."""

    def set_current(self, version: str) -> None:
        """Point CURRENT at ``version`` once it verifies (roll forward or back)."""

    def stage(self, on_step: Callable[[str], None] | None = None) -> Stage:
        """Start writing a new version."""

    def fetch(self, version: str, cache: Path) -> tuple[Path, bool]:
        """A local artifact folder holding ``version`` (downloading it into ``cache`` when the
        store is remote), and whether every file was hashed on the way."""


class LocalStore:
    """Versions in a folder: ``contracts.artifacts`` as it always was."""

    def __init__(self, folder: Path) -> None:
        self.location: Location = folder
        self.folder = folder

    def check(self) -> None:
        if self.folder.exists() and not self.folder.is_dir():
            raise StoreError(f"{self.folder} is not a folder")

    def read_current(self) -> str | None:
        return artifacts.read_current(self.folder)

    def list_versions(self) -> list[str]:
        return artifacts.list_versions(self.folder)

    def load_manifest(self, version: str) -> Manifest:
        return artifacts.load_manifest(artifacts.version_dir(self.folder, version))

    def verify(self, version: str) -> Manifest:
        return artifacts.verify_version(artifacts.version_dir(self.folder, version))

    def set_current(self, version: str) -> None:
        artifacts.set_current(self.folder, version)

    def stage(self, on_step: Callable[[str], None] | None = None) -> Stage:
        return artifacts.stage_version(self.folder, on_step=on_step)

    def fetch(self, version: str, cache: Path) -> tuple[Path, bool]:
        return self.folder, False  # read in place; the loader hashes (once per instance)


def open_store(location: str | os.PathLike[str] | Location) -> Store:
    """The store at ``location`` (a folder, or ``s3://…`` — which needs the ``s3`` extra)."""
    parsed = parse_location(location)
    if isinstance(parsed, S3Location):
        from contracts.s3 import S3Store

        return S3Store(parsed)
    return LocalStore(parsed)
