"""The manifest of a version and the errors of reading one: schema only, no I/O.

``contracts/artifacts.py`` writes and verifies versions with these models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.blend import BlendRule
from contracts.interactions import LABELS

Similarity = Literal["cosine", "inner_product"]
Space = Literal["cosine", "ip"]
SPACES: dict[str, Space] = {"cosine": "cosine", "inner_product": "ip"}
"""The hnswlib space that implements each similarity."""


class ArtifactError(Exception):
    """A version or the CURRENT pointer is unusable; the message says what to do."""


class CurrentError(ArtifactError):
    """``CURRENT`` exists but does not hold a valid version id."""


class VersionNotFoundError(ArtifactError):
    """The named version folder does not exist."""


class ManifestError(ArtifactError):
    """The manifest is missing, unparsable, of another schema, or names another version."""


class ManifestMissingError(ManifestError):
    """No manifest.json: the folder was never published (or was damaged)."""


class SchemaVersionError(ManifestError):
    """The manifest was written by a different (newer or older) format."""


class VersionMismatchError(ManifestError):
    """The manifest's version id differs from its folder name."""


class ArtifactFileError(ArtifactError):
    """A file listed in the manifest is missing or differs from what was published."""

    def __init__(self, message: str, file: str) -> None:
        super().__init__(message)
        self.file = file


class MissingFileError(ArtifactFileError):
    """A listed file is absent."""


class SizeMismatchError(ArtifactFileError):
    """A listed file has a different size (typically truncated)."""


class ChecksumMismatchError(ArtifactFileError):
    """A listed file has the right size but different content."""


_FROZEN = ConfigDict(frozen=True, extra="forbid")


class FileEntry(BaseModel):
    """Size and sha256 (hex) of one file, as published."""

    model_config = _FROZEN
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class IndexInfo(BaseModel):
    """One hnswlib index: what it holds, how it was built, and how good it is."""

    model_config = _FROZEN
    name: str
    interaction: str | None
    similarity: Similarity
    space: Space
    file: str
    count: int = Field(ge=0)
    dim: int = Field(gt=0)
    M: int = Field(gt=0)
    ef_construction: int = Field(gt=0)
    ef_search: int = Field(gt=0)
    query_vectors: Literal["in"] = "in"
    stored_vectors: Literal["in", "out"]
    recall: dict[str, float] = Field(default_factory=dict)
    recall_sample: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> IndexInfo:
        if self.interaction is not None and self.interaction not in LABELS:
            raise ValueError(f"interaction {self.interaction!r} is not one of {LABELS}")
        if SPACES[self.similarity] != self.space:
            want = SPACES[self.similarity]
            raise ValueError(f"similarity {self.similarity!r} needs space {want!r}")
        return self


class TrainingStats(BaseModel):
    """How one embedding model (``pairs`` or ``items``) was trained, for the record."""

    model_config = _FROZEN
    tokens: int = Field(ge=0)
    seconds: float = Field(ge=0)
    threads: int = Field(ge=1)
    epochs: int = Field(ge=0)
    compile_seconds: float = Field(default=0.0, ge=0)
    tokens_per_second: float = Field(ge=0)


class NeighborTableInfo(BaseModel):
    """Top-k neighbours of every ``seed`` pair among the ``target`` pairs, computed offline.

    Three files: ``tokens`` (int64, sorted: the seed pair tokens with a row), ``items`` (int32
    (n, k): neighbour *item rows*, best first, -1 padding) and ``scores`` (float16 (n, k)).
    """

    model_config = _FROZEN
    seed: str
    target: str
    k: int = Field(gt=0)
    rows: int = Field(ge=0)
    similarity: Similarity
    tokens: str
    items: str
    scores: str


class DataStatistics(BaseModel):
    """What a version was trained on (the trainer's ``data_statistics``). Every field is
    optional, so versions written before a field existed still load; fields this class does not
    know are kept (``extra``), so an older reader loads a newer version."""

    model_config = ConfigDict(frozen=True, extra="allow")
    source: str | None = None  # the event log's path
    rows_read: int | None = None
    events: int | None = None  # rows kept
    bad_rows: dict[str, int] = Field(default_factory=dict)  # reason → count
    ignored_rows: dict[str, int] = Field(default_factory=dict)
    out_of_window: int | None = None
    users: int | None = None
    time_range: tuple[int, int] | None = None  # unix seconds of the first and last event
    sessions: int | None = None
    sessions_dropped_short: int | None = None
    session_pairs: int | None = None
    items: int | None = None
    pairs: int | None = None  # rows of the pair model (pairs, then entities)
    pairs_per_interaction: dict[str, int] = Field(default_factory=dict)
    entities_per_kind: dict[str, int] = Field(default_factory=dict)
    impressions: int | None = None
    categories: int | None = None


class Manifest(BaseModel):
    """What a version holds and how it was made; ``files`` is the authority on its contents."""

    model_config = _FROZEN
    schema_version: int
    version: str
    created_at: AwareDatetime
    config: dict[str, Any]
    data: DataStatistics
    dim: int = Field(gt=0)
    similarity: Similarity
    training: dict[str, TrainingStats]
    indexes: list[IndexInfo]
    files: dict[str, FileEntry]
    neighbor_tables: list[NeighborTableInfo] = Field(default_factory=list)
    # When neighbours give way to popular items of the seed's category (contracts/blend.py);
    # None: a version from before the rule, every neighbour is kept.
    blend: BlendRule | None = None
    # What train chose by itself on its validation split (epochs, …) and why (trainer/auto.py).
    chosen: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _indexes_are_files(self) -> Manifest:
        named = [i.file for i in self.indexes]
        named += [f for t in self.neighbor_tables for f in (t.tokens, t.items, t.scores)]
        unlisted = [f for f in named if f not in self.files]
        if unlisted:
            raise ValueError(f"index files not listed in files: {unlisted}")
        return self

    def index(self, name: str, similarity: Similarity | None = None) -> IndexInfo:
        """The index called ``name`` (default similarity: the manifest's); KeyError if absent."""
        wanted = similarity or self.similarity
        for info in self.indexes:
            if info.name == name and info.similarity == wanted:
                return info
        have = [f"{i.name}/{i.similarity}" for i in self.indexes]
        raise KeyError(f"no index {name!r} with similarity {wanted!r}; have {have}")
