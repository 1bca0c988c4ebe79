"""The service's settings: one typed object, read from the environment at start-up.

Every field maps to an upper-case environment variable of the same name (``ARTIFACTS_DIR``,
``REDIS_URL``, …). Impossible values stop the service at start-up with a message naming the
variable, rather than failing on the first request. docs/operations.md lists them all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts.artifacts import ITEM_INDEX
from contracts.catalog import ENTITY_KINDS
from contracts.interactions import LABELS, Interaction
from contracts.redis_keys import DEFAULT_PREFIX, PREFIX_PATTERN

MIN_SECRET = 16  # characters of an API key or the admin token


class Settings(BaseSettings):
    """Service configuration (environment variables, case-insensitive)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    # The process (python -m service; its --host/--port/--workers flags override these).
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=256)
    # uvicorn kills a worker whose health ping goes unanswered this long; loading a large
    # version holds the GIL for seconds inside hnswlib, which must not look like a hang.
    worker_healthcheck_seconds: int = Field(120, ge=1, le=3600)
    # Shared by the workers of one instance; python -m service makes one when WORKERS > 1.
    prometheus_multiproc_dir: Path | None = None
    artifacts_dir: Path = Path("artifacts")  # the trainer's --artifacts folder (read-only)
    reload_interval_seconds: float = Field(10.0, ge=0)  # CURRENT checks; 0 = only on request
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_timeout_ms: int = Field(50, ge=1, le=10_000)  # past this, answer degraded
    redis_max_connections: int = Field(64, ge=1, le=10_000)  # per worker
    redis_warm_connections: int = Field(16, ge=0, le=10_000)  # opened before the worker serves
    key_prefix: str = Field(DEFAULT_PREFIX, pattern=PREFIX_PATTERN.pattern)
    history_length: int = Field(50, ge=1, le=10_000)  # items kept per user and interaction
    history_ttl_days: float = Field(30, gt=0)  # refreshed on every write
    seeds_per_module: int = Field(4, ge=1, le=50)  # the paper: last 4 views, last 4 carts
    # Which candidate interactions each module searches (comma-separated). "Inspired by what
    # you viewed" looks for substitutes among views; "…carted" for what is carted with a
    # carted item (docs/experiments.md has the measurements behind these defaults).
    viewed_targets: Annotated[tuple[Interaction, ...], NoDecode] = (Interaction.VIEW,)
    carted_targets: Annotated[tuple[Interaction, ...], NoDecode] = (Interaction.CART,)
    k_default: int = Field(100, ge=1)  # candidates per module when the caller gives no k
    k_max: int = Field(500, ge=1, le=5000)
    exclude_max: int = Field(500, ge=0, le=10_000)  # items a GET may exclude (a URL's length)
    exclude_max_body: int = Field(10_000, ge=0, le=100_000)  # items the POST's body may exclude
    ef_search: int | None = Field(None, ge=1)  # None: the manifest's (the paper's 256)
    # The hnswlib indexes each worker loads for live search: "all", "none" or names
    # ("view,item,query"). The modules need none when the version has its neighbour tables;
    # entity neighbours (query, category, shop) need theirs; each loaded index costs private
    # memory per worker (docs/benchmarks.md "Serving").
    live_indexes: str = "all"
    events_batch_max: int = Field(1000, ge=1, le=100_000)
    # Request limits (docs/operations.md "Limits"): a larger body is refused with 413 before it
    # is read, one that takes longer to arrive with 408; a request line plus headers larger
    # than max_head_bytes, or with more than max_headers headers, with 431 (service/protocol.py).
    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    body_timeout_seconds: float = Field(10.0, gt=0, le=600)
    max_head_bytes: int = Field(128 * 1024, ge=8 * 1024, le=16 * 1024 * 1024)
    max_headers: int = Field(100, ge=10, le=10_000)
    # Shared by the workers of one instance: reload turns, versions already hashed
    # (service/coordination.py). ``python -m service`` makes one when it runs several workers.
    runtime_dir: Path | None = None
    # Access (service/auth.py, docs/operations.md "Security"): keys for /v1 (and /metrics unless
    # metrics_open), a token for /admin (the admin routes are off without one).
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    metrics_open: bool = False
    admin_token: SecretStr | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    access_log: bool = True  # a JSON line per request (~0.1 ms of CPU each); metrics stay on

    @field_validator("viewed_targets", "carted_targets", mode="before")
    @classmethod
    def _interactions(cls, value: object) -> tuple[Interaction, ...]:
        names = value.split(",") if isinstance(value, str) else value
        if not isinstance(names, list | tuple) or not names:
            raise ValueError("give at least one interaction, e.g. 'view' or 'view,cart'")
        parsed = [n if isinstance(n, Interaction) else Interaction.parse(str(n)) for n in names]
        return tuple(dict.fromkeys(parsed))

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys(cls, value: object) -> tuple[str, ...]:
        keys = value.split(",") if isinstance(value, str) else value
        if not isinstance(keys, list | tuple):
            raise ValueError("give comma-separated keys")
        found = tuple(k.strip() if isinstance(k, str) else k for k in keys)
        return tuple(k for k in found if k)

    @field_validator("api_keys", "admin_token")
    @classmethod
    def _long_enough(cls, value: object) -> object:
        secrets = value if isinstance(value, tuple) else () if value is None else (value,)
        for secret in secrets:
            text = secret.get_secret_value()
            if len(text) < MIN_SECRET or any(c in text for c in " \t\r\n"):
                raise ValueError(f"each key or token needs {MIN_SECRET}+ characters, no spaces")
        return value

    @field_validator("live_indexes")
    @classmethod
    def _index_names(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        if names in (["all"], ["none"]):
            return names[0]
        known = (*LABELS, *ENTITY_KINDS, ITEM_INDEX)
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            raise ValueError(f"give 'all', 'none' or index names of {known}, got {value!r}")
        return ",".join(dict.fromkeys(names))

    @model_validator(mode="after")
    def _k_default_within_max(self) -> Settings:
        if self.k_default > self.k_max:
            raise ValueError(f"k_default ({self.k_default}) exceeds k_max ({self.k_max})")
        return self

    @property
    def live_index_names(self) -> tuple[str, ...] | None:
        """The live indexes to load; None for all of them."""
        if self.live_indexes == "all":
            return None
        return () if self.live_indexes == "none" else tuple(self.live_indexes.split(","))

    @property
    def api_key_values(self) -> tuple[str, ...]:
        return tuple(k.get_secret_value() for k in self.api_keys)

    @property
    def redis_timeout_seconds(self) -> float:
        return self.redis_timeout_ms / 1000

    @property
    def history_ttl_seconds(self) -> int:
        return int(self.history_ttl_days * 86400)
