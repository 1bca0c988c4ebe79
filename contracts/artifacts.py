"""The artifact directory: the only coupling between trainer and service.

Layout (names below are the single source of truth; never spell them elsewhere)::

    DIR/CURRENT                          one line: the version the service should serve
    DIR/versions/<version>/manifest.json the Manifest: config, data stats, size + sha256 of files
    DIR/versions/<version>/...           ITEMS, TOKENS, embeddings, index/*.hnsw, POPULAR, ...

A version folder is immutable once published. Publishing is crash-safe: files are written to a
dot-prefixed temporary folder, fsynced, renamed into ``versions/`` and only then is ``CURRENT``
replaced by renaming ``CURRENT.tmp`` over it. A crash at any point leaves ``CURRENT`` naming
either the previous version or the new one, and whichever it names verifies.

One idea at ~490 lines: a version's life on disk (its names, verifying it, publishing it
crash-safely, pruning old ones), whose steps share the layout and the fsync discipline; the
manifest's models are in ``manifest.py`` and the reading of a version in ``published.py``.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import ValidationError

from contracts import popular
from contracts.catalog import ENTITY_KINDS
from contracts.interactions import LABELS
from contracts.manifest import (  # noqa: F401 (re-exported: one import for users)
    SPACES,
    ArtifactError,
    ArtifactFileError,
    ChecksumMismatchError,
    CurrentError,
    FileEntry,
    IndexInfo,
    Manifest,
    ManifestError,
    ManifestMissingError,
    MissingFileError,
    NeighborTableInfo,
    SchemaVersionError,
    Similarity,
    SizeMismatchError,
    Space,
    TrainingStats,
    VersionMismatchError,
    VersionNotFoundError,
)

CURRENT = "CURRENT"
CURRENT_TMP = "CURRENT.tmp"
VERSIONS = "versions"
MANIFEST = "manifest.json"
SCHEMA_VERSION = 3
"""2: the catalogue also as arrays (CATALOG_*); 3: the popular lists as arrays (POPULAR) instead
of POPULAR_JSON (docs/artifacts.md). Versions of 1 and 2 still load."""
READABLE_SCHEMA_VERSIONS = (1, 2, 3)

ITEMS = "items.tsv"
"""``item_id<TAB>category_id`` per line; line ``i`` is item index ``i``."""
TOKENS = "tokens.npy"
"""int64 ``(n_pairs, 3)``: item index, interaction code, count; row = pair (token) index."""
PAIRS_IN = "embeddings/pairs.in.npy"
PAIRS_OUT = "embeddings/pairs.out.npy"
ITEMS_IN = "embeddings/items.in.npy"
ITEMS_OUT = "embeddings/items.out.npy"
POPULAR = "popular"
"""Folder of the popular lists as arrays (schema 3 on): contracts/popular.py's layout."""
POPULAR_FILES = tuple(f"{POPULAR}/{name}" for name in popular.FILES)
"""Every file of POPULAR, relative to the version folder."""
POPULAR_JSON = "popular.json"
"""The popular lists of a version of schema 1 or 2: ``{"overall": [{"item_id", "score"}],
"by_category": {...}}``, converted at load (contracts/popular.py's ``from_json``)."""
CATALOG_ITEMS = "catalog/items"
"""String table (contracts/strings.py) of the item ids by row: ``catalog/items.{bytes,offsets.npy,
hash.npy,order.npy}``."""
CATALOG_CATEGORIES = "catalog/categories"
"""String table of the category ids; CATALOG_ITEM_CATEGORY holds a row of it per item."""
CATALOG_ITEM_CATEGORY = "catalog/item_category.npy"
"""int32 ``(n_items,)``: the row in CATALOG_CATEGORIES of each item's category, -1 for none."""
CATALOG_ITEM_TOKENS = "catalog/item_tokens.npy"
"""int64 ``(n_items, 4)``: the pair token of each (item, interaction), -1 for none."""
CATALOG_ENTITIES = "catalog/entities"
"""String table of the entity ids (versions with entities): row e is token ``n_pairs + e``."""
CATALOG_ENTITY_KIND = "catalog/entity_kind.npy"
"""int8 ``(n_entities,)``: each entity's kind, as its position in ``ENTITY_KINDS``."""
ITEM_INDEX = "item"
"""Index name of the no-interaction (item-only) model; the others are named by interaction label
or, for entity tokens, by their kind (ENTITY_KINDS)."""
ENTITIES = "entities.tsv"
"""``kind<TAB>id<TAB>count`` per entity token (versions with entities): token ``n_pairs + line``."""
COLD = "cold"
"""Seed name of cold items: an item the model has not seen, searched with its category's vector."""
COLD_CATEGORIES = "cold/categories.tsv"
"""One category id per line; line ``c`` is row ``c`` of COLD_VECTORS."""
COLD_VECTORS = "cold/vectors.npy"
"""float32 ``(n_categories, dim)``: the query vector of an unseen item of each category."""
EVALUATION = "evaluation"
"""Optional folder of a published version: its offline evaluation, as ``python -m trainer evaluate
--artifacts DIR --report DIR/versions/<version>/evaluation`` writes it. Added after publishing,
so not in the manifest's ``files`` (``verify_version`` ignores unlisted files); the service's
inspector shows it (``service/inspection.py``)."""
EVALUATION_REPORT = "report.md"
EVALUATION_METRICS = "metrics.json"
"""The evaluation's numbers; its shape is documented in ``trainer/evaluation/results.py``."""
HIT_RATE_PLOT = "hit_rate_vs_k.png"
COVERAGE_PLOT = "coverage.png"
EMBEDDINGS_PLOT = "embeddings_2d.png"
EVALUATION_PLOTS = (HIT_RATE_PLOT, COVERAGE_PLOT, EMBEDDINGS_PLOT)
"""Every figure an evaluation may draw (``trainer/evaluation/plots.py``), in the report's order."""

_TMP_PREFIX = ".tmp-"
_DEL_PREFIX = ".del-"
_LEASE_SUFFIX = ".lease"
_VERSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SUFFIX_SPACE = 16**6
_suffix_base = secrets.randbelow(_SUFFIX_SPACE)
_suffix_counter = itertools.count()

STEPS = (
    "files-written",
    "manifest-written",
    "renamed",
    "current-tmp-written",
    "current-replaced",
    "pruned",
)
"""The publish steps, in order, as passed to the ``on_step`` hook."""

PathLike = str | os.PathLike[str]


def index_path(name: str, similarity: Similarity) -> str:
    """Relative path of an index: ``index/{name}.{similarity}.hnsw``."""
    if name != ITEM_INDEX and name not in LABELS + ENTITY_KINDS:
        raise ValueError(
            f"index name {name!r} must be {ITEM_INDEX!r} or one of {LABELS + ENTITY_KINDS}"
        )
    if similarity not in SPACES:
        raise ValueError(f"similarity {similarity!r} must be one of {tuple(SPACES)}")
    return f"index/{name}.{similarity}.hnsw"


def neighbor_table_paths(seed: str, target: str) -> tuple[str, str, str]:
    """Paths of a neighbour table: ``neighbors/{seed}-{target}.{tokens,items,scores}.npy``.

    ``seed`` and ``target`` are interaction labels, or both ``item`` (no-interaction vectors);
    the seed may also be ``cold`` (the category vectors of unseen items, COLD_VECTORS).
    """
    if not (seed == target == ITEM_INDEX or (seed in (*LABELS, COLD) and target in LABELS)):
        raise ValueError(
            f"table {seed}>{target}: both must be one of {LABELS} (the seed may be {COLD!r}), "
            f"or both {ITEM_INDEX!r}"
        )
    stem = f"neighbors/{seed}-{target}"
    return f"{stem}.tokens.npy", f"{stem}.items.npy", f"{stem}.scores.npy"


def new_version_id(now: datetime | None = None) -> str:
    """A version id that sorts by creation time, e.g. ``20261123T031900Z-3f9a2c``.

    The suffix is a per-process random base plus a counter, so ids made by one process in the
    same second never collide and ids from different processes collide with odds 1 in 16M.
    """
    moment = datetime.now(UTC) if now is None else now
    if moment.tzinfo is None:
        raise ValueError("new_version_id needs a timezone-aware datetime")
    suffix = (_suffix_base + next(_suffix_counter)) % _SUFFIX_SPACE
    return f"{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}-{suffix:06x}"


def check_version_id(version: str) -> str:
    """``version`` if it is a valid version id (so it cannot escape a folder); else ValueError."""
    if not _VERSION_ID.match(version):
        raise ValueError(f"invalid version id {version!r}: use letters, digits, '.', '_', '-'")
    return version


def versions_dir(artifacts_dir: PathLike) -> Path:
    """``artifacts_dir/versions``."""
    return Path(artifacts_dir) / VERSIONS


def version_dir(artifacts_dir: PathLike, version: str) -> Path:
    """``artifacts_dir/versions/<version>`` (the id is checked so it cannot escape the folder)."""
    return versions_dir(artifacts_dir) / check_version_id(version)


def read_current(artifacts_dir: PathLike) -> str | None:
    """The version CURRENT names, or None when there is no CURRENT yet."""
    try:
        text = (Path(artifacts_dir) / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not _VERSION_ID.match(text):
        raise CurrentError(
            f"{Path(artifacts_dir) / CURRENT} holds {text[:80]!r}, not a version id; "
            "point it at a good version with set_current"
        )
    return text


def list_versions(artifacts_dir: PathLike) -> list[str]:
    """Published version ids, oldest first (temporary and dot folders excluded)."""
    root = versions_dir(artifacts_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def load_manifest(version_dir: PathLike) -> Manifest:
    """Parse ``version_dir/manifest.json``; ManifestError subclasses say what is wrong."""
    path = Path(version_dir) / MANIFEST
    if not Path(version_dir).is_dir():
        raise VersionNotFoundError(f"version folder {version_dir} does not exist")
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise ManifestMissingError(
            f"{path} is missing: {version_dir} was never fully published; delete it or republish"
        ) from None
    return parse_manifest(text, str(path))


def parse_manifest(text: bytes | str, where: str) -> Manifest:
    """The Manifest in ``text`` (read from ``where``, which messages name); ManifestError."""
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{where} is not valid JSON ({exc}); republish this version") from exc
    found = raw.get("schema_version") if isinstance(raw, dict) else None
    if found not in READABLE_SCHEMA_VERSIONS:
        raise SchemaVersionError(
            f"{where} has schema_version {found!r} but this code reads "
            f"{' and '.join(map(str, READABLE_SCHEMA_VERSIONS))}; "
            "use a matching trainer/service release or retrain"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        raise ManifestError(f"{where} does not match the manifest schema: {exc}") from exc


def file_entry(path: PathLike, fsync: bool = False) -> FileEntry:
    """Size and sha256 of a file, hashed in a streaming fashion (constant memory).

    With ``fsync`` the file's data is also forced to disk through the same descriptor.
    """
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        size = os.fstat(f.fileno()).st_size
        if fsync:
            os.fsync(f.fileno())
    return FileEntry(bytes=size, sha256=digest)


def verify_version(version_dir: PathLike, check_hashes: bool = True) -> Manifest:
    """The manifest of ``version_dir`` once every listed file is present and intact.

    Sizes are always checked; sha256 only with ``check_hashes`` (reading every byte is the
    expensive part). Files not listed in the manifest are ignored.
    """
    folder = Path(version_dir)
    manifest = load_manifest(folder)
    if manifest.version != folder.name:
        raise VersionMismatchError(
            f"{folder / MANIFEST} names version {manifest.version!r} but lives in "
            f"{folder.name!r}; folders must not be renamed after publishing"
        )
    for name, expected in manifest.files.items():
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ManifestError(f"{folder / MANIFEST} lists {name!r}, outside the version folder")
        path = folder / name
        if not path.is_file():
            raise MissingFileError(f"{path} is listed in the manifest but missing", name)
        size = path.stat().st_size
        if size != expected.bytes:
            raise SizeMismatchError(
                f"{path} has {size} bytes, the manifest says {expected.bytes}; "
                "the version is damaged, roll back or republish",
                name,
            )
        if check_hashes:
            actual = file_entry(path).sha256
            if actual != expected.sha256:
                raise ChecksumMismatchError(
                    f"{path} has sha256 {actual}, the manifest says {expected.sha256}; "
                    "the version is damaged, roll back or republish",
                    name,
                )
    return manifest


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_current(artifacts_dir: Path, version: str, on_step: Callable[[str], None]) -> None:
    tmp = artifacts_dir / CURRENT_TMP
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(version + "\n")
        f.flush()
        os.fsync(f.fileno())
    on_step("current-tmp-written")
    os.replace(tmp, artifacts_dir / CURRENT)
    _fsync(artifacts_dir)
    on_step("current-replaced")


def set_current(artifacts_dir: PathLike, version: str) -> None:
    """Atomically point CURRENT at ``version`` (e.g. to roll back) once it verifies."""
    verify_version(version_dir(artifacts_dir, version))
    _write_current(Path(artifacts_dir), version, lambda step: None)


def _lease(stage: Path) -> Path:
    """The lock file beside a staging folder: its stager holds an exclusive flock on it."""
    return stage.with_name(stage.name + _LEASE_SUFFIX)


def _abandoned(stage: Path) -> bool:
    """Whether nobody holds the staging folder's lease any more (its stager died). A process
    that dies drops its locks, whatever its pid; pids say nothing across containers, where a
    crashed trainer and the next one are both pid 1."""
    try:
        with open(_lease(stage), "rb") as lease:
            fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
    except FileNotFoundError:
        return True  # no lease: left by a crash between mkdir and locking, or by older code
    except BlockingIOError:
        return False


def prune(artifacts_dir: PathLike, keep: int | None) -> list[str]:
    """Delete all but the newest ``keep`` versions (never CURRENT's) and stale staging folders.

    A version being written (``.tmp-*``) is stale when nobody holds its lease (a lock file
    beside it, flocked by its stager for as long as it lives); a version being deleted
    (``.del-*``) is always garbage. Old versions are renamed to a dot folder first, so a crash
    mid-delete never leaves a half version visible. Returns the deleted version ids.
    """
    if keep is not None and keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    root = versions_dir(artifacts_dir)
    for entry in sorted(root.iterdir()) if root.is_dir() else ():
        if entry.name.startswith(_DEL_PREFIX) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith(_TMP_PREFIX) and entry.is_dir() and _abandoned(entry):
            shutil.rmtree(entry, ignore_errors=True)
            _lease(entry).unlink(missing_ok=True)
        elif entry.name.endswith(_LEASE_SUFFIX) and not entry.with_suffix("").exists():
            entry.unlink(missing_ok=True)  # the lease of a folder already gone
    if keep is None:
        return []
    current = read_current(artifacts_dir)
    versions = list_versions(artifacts_dir)
    doomed = [v for v in versions[: max(len(versions) - keep, 0)] if v != current]
    for version in doomed:
        trash = root / f"{_DEL_PREFIX}{version}-{os.getpid()}"
        os.rename(root / version, trash)
        shutil.rmtree(trash, ignore_errors=True)
    if doomed:
        _fsync(root)
    return doomed


class VersionStage:
    """A version being written: write files under ``.path``, then ``publish``.

    Use as a context manager; leaving it without publishing (e.g. on an exception) removes
    the temporary folder. ``on_step`` is called with each name in ``STEPS`` as publishing
    passes it (for logging, and for crash tests).
    """

    def __init__(
        self,
        artifacts_dir: PathLike,
        version: str | None = None,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        self.artifacts_dir = Path(artifacts_dir)
        self.version = check_version_id(new_version_id() if version is None else version)
        self.on_step = on_step or (lambda step: None)
        root = versions_dir(self.artifacts_dir)
        root.mkdir(parents=True, exist_ok=True)
        if (root / self.version).exists():
            raise FileExistsError(f"version {self.version} already exists in {root}")
        self.path = root / f"{_TMP_PREFIX}{self.version}-{os.getpid()}"
        self._lease = open(_lease(self.path), "wb")  # noqa: SIM115 (held until publish or abort)
        fcntl.flock(self._lease, fcntl.LOCK_EX)
        self.path.mkdir()
        self.published = False

    def __enter__(self) -> VersionStage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.published:
            self.abort()

    def abort(self) -> None:
        """Discard everything written so far."""
        shutil.rmtree(self.path, ignore_errors=True)
        self._release()

    def _release(self) -> None:
        if not self._lease.closed:
            _lease(self.path).unlink(missing_ok=True)
            self._lease.close()

    def publish(self, manifest_fields: dict[str, Any], keep: int | None = None) -> str:
        """Seal the folder as version ``self.version``, make it CURRENT, prune; return the id.

        ``manifest_fields`` holds every Manifest field except those publish owns
        (schema_version, version, created_at, files); nested values may be models or dicts.
        """
        if self.published:
            raise RuntimeError(f"version {self.version} is already published")
        owned = {"schema_version", "version", "created_at", "files"} & manifest_fields.keys()
        if owned:
            raise ValueError(f"publish fills {sorted(owned)} itself; remove them")
        if (self.path / MANIFEST).exists():
            raise ValueError(f"{MANIFEST} is written by publish; do not write it yourself")
        files = self._seal_files()
        self.on_step("files-written")
        manifest = Manifest.model_validate(
            {
                **manifest_fields,
                "schema_version": SCHEMA_VERSION,
                "version": self.version,
                "created_at": datetime.now(UTC),
                "files": files,
            }
        )
        with open(self.path / MANIFEST, "x", encoding="utf-8") as f:
            f.write(manifest.model_dump_json(indent=2) + "\n")
            f.flush()
            os.fsync(f.fileno())
        _fsync(self.path)
        self.on_step("manifest-written")
        final = versions_dir(self.artifacts_dir) / self.version
        if final.exists():
            raise FileExistsError(f"version {self.version} appeared in {final.parent} meanwhile")
        os.rename(self.path, final)
        self.published = True
        self._release()
        _fsync(final.parent)
        self.on_step("renamed")
        _write_current(self.artifacts_dir, self.version, self.on_step)
        prune(self.artifacts_dir, keep)
        self.on_step("pruned")
        return self.version

    def _seal_files(self) -> dict[str, FileEntry]:
        """Hash and fsync every file below the stage folder, fsync every folder."""
        files: dict[str, FileEntry] = {}
        for folder, dirs, names in os.walk(self.path):
            dirs.sort()
            for name in sorted(names):
                path = Path(folder) / name
                if path.is_symlink() or not path.is_file():
                    raise ValueError(f"{path} is not a regular file; versions hold files only")
                files[path.relative_to(self.path).as_posix()] = file_entry(path, fsync=True)
            _fsync(Path(folder))
        return files


def stage_version(
    artifacts_dir: PathLike,
    version: str | None = None,
    on_step: Callable[[str], None] | None = None,
) -> VersionStage:
    """Start writing a new version (id generated when not given); see VersionStage."""
    return VersionStage(artifacts_dir, version, on_step)
