"""Versions in S3-compatible object storage: the folder layout under ``s3://bucket/prefix``.

``prefix/CURRENT`` and ``prefix/versions/<version>/…`` hold what the folder holds
(docs/artifacts.md). An object store has no rename, so publishing keeps the folder's guarantees
by the order of its writes instead:

1. the version is staged and sealed in a local temporary folder exactly as for a folder
   (``contracts.artifacts.VersionStage``: every file hashed into the manifest);
2. it is refused if any object already exists under ``versions/<version>/`` (versions are
   immutable); every file is uploaded, then ``manifest.json`` (only if absent), then
3. ``CURRENT`` is replaced (an object PUT is atomic: readers see the old id or the new one);
4. old versions are pruned, each manifest first, so no reader trusts a half-deleted version.

A reader trusts a version only through its manifest, which exists only once every file is
uploaded, and verifies every file's sha256 against it; a crash at any step leaves ``CURRENT``
naming a complete version. ``fetch`` downloads a version into a local cache folder (staged,
every file hashed as it lands, then renamed into place) for the service to memory-map.

boto3 is imported only here, when an ``s3://`` location is used (the ``s3`` extra); it reads the
standard ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and
``AWS_DEFAULT_REGION`` itself, so any S3-compatible store works. Its errors become
``StoreError`` with a message an operator can act on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from contracts import artifacts
from contracts.manifest import (
    ChecksumMismatchError,
    CurrentError,
    Manifest,
    ManifestError,
    ManifestMissingError,
    MissingFileError,
    SizeMismatchError,
    VersionMismatchError,
)
from contracts.s3_errors import ObjectMissing, translated
from contracts.storage import Location, S3Location, Stage, StoreError

S3_STEPS = ("file-uploaded", "files-uploaded", "manifest-uploaded", "current-replaced", "pruned")
"""The steps of publishing to S3, in order, as passed to ``on_step`` (``file-uploaded`` once
per file); staging before them is the folder's (``artifacts.STEPS``, in a temporary folder)."""
STALE_UPLOAD = timedelta(hours=6)
"""A version without a manifest whose newest object is older than this is a crashed upload."""
_CHUNK = 1 << 20
for _noisy in ("botocore", "boto3", "s3transfer"):  # "Found credentials in …" at INFO, per client
    if logging.getLogger(_noisy).level == logging.NOTSET:
        logging.getLogger(_noisy).setLevel(logging.WARNING)


class S3Store:
    """A Store (contracts/storage.py) on an S3-compatible bucket, through boto3."""

    def __init__(self, location: S3Location) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise StoreError(
                f"{location} needs boto3: pip install 'interaction-candidates[s3]'"
            ) from None
        self.location: Location = location
        self.s3 = location
        config = Config(
            connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}
        )
        with self._errors("configure the client for"):
            # a session of its own: it reads the AWS_* variables now, not those of the first
            # client this process made (boto3's default session caches its credentials)
            self.client: Any = boto3.session.Session().client("s3", config=config)

    def __str__(self) -> str:
        return str(self.s3)

    def check(self) -> None:
        with self._errors("reach"):
            self.client.head_bucket(Bucket=self.s3.bucket)

    def read_current(self) -> str | None:
        data = self._get_bytes(self.s3.key(artifacts.CURRENT))
        if data is None:
            return None
        text = data.decode("utf-8", errors="replace")
        try:
            return artifacts.check_version_id(text.strip())
        except ValueError:
            raise CurrentError(
                f"{self._url(artifacts.CURRENT)} holds {text.strip()[:80]!r}, not a version id; "
                "point it at a good version with `versions rollback`"
            ) from None

    def list_versions(self) -> list[str]:
        return sorted(v for v, (complete, _) in self._versions().items() if complete)

    def load_manifest(self, version: str) -> Manifest:
        return self._manifest(version)[0]

    def _manifest(self, version: str) -> tuple[Manifest, bytes]:
        """The version's manifest, parsed and as stored."""
        name = self._version_key(version, artifacts.MANIFEST)
        data = self._get_bytes(name)
        if data is None:
            raise ManifestMissingError(
                f"{self._url(name)} is missing: {version} was never fully published"
            )
        manifest = artifacts.parse_manifest(data, self._url(name))
        if manifest.version != version:
            raise VersionMismatchError(
                f"{self._url(name)} names version {manifest.version!r}, not {version!r}"
            )
        return manifest, data

    def verify(self, version: str) -> Manifest:
        """Stream every file of the version and check its size and sha256 (nothing on disk)."""
        manifest = self.load_manifest(version)
        for name, expected in manifest.files.items():
            digest, size = hashlib.sha256(), 0
            with self._reading(version, name) as body:
                for chunk in body.iter_chunks(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
            self._compare(version, name, expected, size, digest.hexdigest())
        return manifest

    def set_current(self, version: str) -> None:
        self.verify(version)
        self._put_current(version)

    def stage(self, on_step: Callable[[str], None] | None = None) -> Stage:
        return S3Stage(self, on_step or (lambda step: None))

    def fetch(self, version: str, cache: Path) -> tuple[Path, bool]:
        """Download ``version`` into ``cache/versions/<version>`` unless it is there already;
        every file is hashed as it lands and the version is renamed into place only whole."""
        final = artifacts.version_dir(cache, version)
        if final.is_dir():
            return cache, False
        manifest, stored = self._manifest(version)
        stage = final.with_name(f".tmp-{version}-{os.getpid()}")
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
        try:
            for name, expected in manifest.files.items():
                if Path(name).is_absolute() or ".." in Path(name).parts:
                    raise ManifestError(f"the manifest of {version} lists {name!r}, outside it")
                path = stage / name
                path.parent.mkdir(parents=True, exist_ok=True)
                self._download(version, name, path)
                entry = artifacts.file_entry(path)
                self._compare(version, name, expected, entry.bytes, entry.sha256)
            (stage / artifacts.MANIFEST).write_bytes(stored)
            os.rename(stage, final)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        return cache, True

    def upload(self, folder: Path, version: str, on_step: Callable[[str], None]) -> None:
        """Upload a sealed version folder: every file, then the manifest (never overwriting)."""
        with self._errors("list"):
            found = self.client.list_objects_v2(
                Bucket=self.s3.bucket, Prefix=self._version_key(version, ""), MaxKeys=1
            )
        if found.get("KeyCount", 0):
            where = self._url(self._version_key(version, ""))
            raise StoreError(f"{where} exists: versions are immutable, publish a new one")
        manifest = artifacts.load_manifest(folder)
        try:
            for name in manifest.files:
                with self._errors("upload to"):
                    self.client.upload_file(
                        str(folder / name), self.s3.bucket, self._version_key(version, name)
                    )
                on_step("file-uploaded")
        except Exception:
            with suppress(Exception):  # best effort; else prune removes it once stale
                self._delete_version(version, manifest_first=False)
            raise
        on_step("files-uploaded")
        self._put_manifest(version, (folder / artifacts.MANIFEST).read_bytes())
        on_step("manifest-uploaded")

    def _put_manifest(self, version: str, body: bytes) -> None:
        """PUT the manifest only if absent (``If-None-Match: *``); a store without conditional
        writes answers NotImplemented, and then the existence check before the upload is all."""
        from botocore.exceptions import ClientError

        put = {
            "Bucket": self.s3.bucket,
            "Key": self._version_key(version, artifacts.MANIFEST),
            "Body": body,
            "ContentType": "application/json",
        }
        with self._errors("upload the manifest to"):
            try:
                self.client.put_object(**put, IfNoneMatch="*")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("NotImplemented", "501"):
                    raise
                self.client.put_object(**put)

    def prune(self, keep: int | None) -> list[str]:
        """Delete all but the newest ``keep`` versions (never CURRENT's) and crashed uploads
        (no manifest, nothing written for STALE_UPLOAD); returns the deleted version ids."""
        if keep is not None and keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        found = self._versions()
        now = datetime.now(UTC)
        for version, (complete, newest) in found.items():
            if not complete and newest is not None and now - newest > STALE_UPLOAD:
                self._delete_version(version, manifest_first=False)
        if keep is None:
            return []
        current = self.read_current()
        published = sorted(v for v, (complete, _) in found.items() if complete)
        doomed = [v for v in published[: max(len(published) - keep, 0)] if v != current]
        for version in doomed:
            self._delete_version(version, manifest_first=True)
        return doomed

    def _put_current(self, version: str) -> None:
        with self._errors("write CURRENT to"):
            self.client.put_object(
                Bucket=self.s3.bucket,
                Key=self.s3.key(artifacts.CURRENT),
                Body=(version + "\n").encode(),
                ContentType="text/plain",
            )

    def _versions(self) -> dict[str, tuple[bool, datetime | None]]:
        """Every version prefix: (has a manifest, its newest object's time)."""
        root = self.s3.key(artifacts.VERSIONS) + "/"
        found: dict[str, tuple[bool, datetime | None]] = {}
        with self._errors("list"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.s3.bucket, Prefix=root
            )
            for page in pages:
                for obj in page.get("Contents", ()):
                    version, _, rest = obj["Key"][len(root) :].partition("/")
                    complete, newest = found.get(version, (False, None))
                    when = obj["LastModified"]
                    found[version] = (
                        complete or rest == artifacts.MANIFEST,
                        when if newest is None else max(newest, when),
                    )
        return {v: state for v, state in found.items() if _is_version_id(v)}

    def _delete_version(self, version: str, manifest_first: bool) -> None:
        prefix = self._version_key(version, "")
        with self._errors("delete from"):
            if manifest_first:
                self.client.delete_object(
                    Bucket=self.s3.bucket, Key=self._version_key(version, artifacts.MANIFEST)
                )
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.s3.bucket, Prefix=prefix
            )
            for page in pages:
                keys = [{"Key": obj["Key"]} for obj in page.get("Contents", ())]
                if keys:
                    self.client.delete_objects(
                        Bucket=self.s3.bucket, Delete={"Objects": keys, "Quiet": True}
                    )

    def _compare(
        self, version: str, name: str, expected: artifacts.FileEntry, size: int, sha256: str
    ) -> None:
        url = self._url(self._version_key(version, name))
        if size != expected.bytes:
            raise SizeMismatchError(
                f"{url} has {size} bytes, the manifest says {expected.bytes}; "
                "the version is damaged, roll back or republish",
                name,
            )
        if sha256 != expected.sha256:
            raise ChecksumMismatchError(
                f"{url} has sha256 {sha256}, the manifest says {expected.sha256}; "
                "the version is damaged, roll back or republish",
                name,
            )

    @contextmanager
    def _reading(self, version: str, name: str) -> Iterator[Any]:
        """The object's streaming body; MissingFileError naming ``name`` when it is absent."""
        key = self._version_key(version, name)
        try:
            with self._errors("read from", missing=True):
                body = self.client.get_object(Bucket=self.s3.bucket, Key=key)["Body"]
        except ObjectMissing:
            raise MissingFileError(
                f"{self._url(key)} is listed in the manifest but missing", name
            ) from None
        try:
            with self._errors("read from"):
                yield body
        finally:
            body.close()

    def _download(self, version: str, name: str, path: Path) -> None:
        """The object into ``path`` (boto3's managed transfer: ranged parts, retries)."""
        key = self._version_key(version, name)
        try:
            with self._errors("read from", missing=True):
                self.client.download_file(self.s3.bucket, key, str(path))
        except ObjectMissing:
            raise MissingFileError(
                f"{self._url(key)} is listed in the manifest but missing", name
            ) from None

    def _get_bytes(self, key: str) -> bytes | None:
        try:
            with self._errors("read from", missing=True):
                body = self.client.get_object(Bucket=self.s3.bucket, Key=key)["Body"]
                try:
                    return bytes(body.read())
                finally:
                    body.close()
        except ObjectMissing:
            return None

    def _version_key(self, version: str, name: str) -> str:
        return self.s3.key(artifacts.VERSIONS, artifacts.check_version_id(version), name) + (
            "/" if not name else ""
        )

    def _url(self, key: str) -> str:
        return f"s3://{self.s3.bucket}/{key}"

    def _errors(self, doing: str, missing: bool = False) -> AbstractContextManager[None]:
        client = getattr(self, "client", None)
        endpoint = client.meta.endpoint_url if client is not None else None
        return translated(self.s3, endpoint, doing, missing)


def _is_version_id(text: str) -> bool:
    try:
        artifacts.check_version_id(text)
    except ValueError:
        return False
    return True


class S3Stage:
    """A version staged in a local temporary folder, then uploaded (see the module's steps)."""

    def __init__(self, store: S3Store, on_step: Callable[[str], None]) -> None:
        self.store = store
        self.on_step = on_step
        self._scratch = tempfile.TemporaryDirectory(prefix="ic-publish-")
        self._local = artifacts.stage_version(self._scratch.name)
        self.version = self._local.version
        self.path = self._local.path

    def __enter__(self) -> S3Stage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._local.__exit__(exc_type, exc, tb)
        self._scratch.cleanup()

    def publish(self, manifest_fields: dict[str, Any], keep: int | None = None) -> str:
        """Seal the version locally, upload it, make it CURRENT, prune; return its id."""
        self._local.publish(manifest_fields)
        folder = artifacts.version_dir(self._scratch.name, self.version)
        self.store.upload(folder, self.version, self.on_step)
        self.store._put_current(self.version)
        self.on_step("current-replaced")
        self.store.prune(keep)
        self.on_step("pruned")
        return self.version
