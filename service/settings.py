"""The service's settings: one typed object, read from the environment at start-up.

Every field maps to an upper-case environment variable of the same name (``ARTIFACTS_DIR``,
``REDIS_URL``, …). Impossible values stop the service at start-up with a message naming the
variable, rather than failing on the first request. docs/operations.md lists them all.
"""

from __future__ import annotations

from importlib.util import find_spec
from os import PathLike
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts.artifacts import ITEM_INDEX, check_version_id
from contracts.catalog import ENTITY_KINDS
from contracts.interactions import LABELS, Interaction
from contracts.redis_keys import DEFAULT_PREFIX, PREFIX_PATTERN, KeyFormat
from contracts.storage import Location, S3Location, parse_location

MIN_SECRET = 16  # characters of an API key or the admin token
Sampler = Literal[
    "always_on", "always_off", "parentbased_always_on", "parentbased_always_off",
    "traceidratio", "parentbased_traceidratio",
]  # fmt: skip


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
    # Connections waiting to be accepted, per worker socket (the kernel caps it at
    # net.core.somaxconn), and how long an idle keep-alive connection is kept open.
    backlog: int = Field(2048, ge=1, le=65535)
    keep_alive_seconds: int = Field(5, ge=1, le=3600)
    # The garbage collector (service/runtime_monitor.py): gc.freeze() after start-up and after
    # each model load, so full collections skip what was loaded; the young generation's
    # collection threshold (net allocations of containers; Python's is 700, which collects
    # every few requests: docs/benchmarks.md "Latency spread").
    gc_freeze: bool = True
    gc_threshold0: int = Field(10_000, ge=100, le=1_000_000)
    # Shared by the workers of one instance; python -m service makes one when WORKERS > 1.
    prometheus_multiproc_dir: Path | None = None
    # The trainer's --artifacts: a folder (read-only) or s3://bucket/prefix (contracts/storage.py).
    artifacts_dir: Location = Path("artifacts")
    reload_interval_seconds: float = Field(10.0, ge=0)  # CURRENT checks; 0 = only on request
    # With ARTIFACTS_DIR in an object store: where versions are downloaded, verified and
    # memory-mapped from (unset: a folder in RUNTIME_DIR, else a temporary one). Every worker of
    # an instance shares it; a version no worker serves any more is removed.
    artifacts_cache_dir: Path | None = None
    # A random wait (up to this, and at most the reload interval) before loading a new version,
    # so that a fleet's pods do not all download and double their memory at the same moment.
    reload_jitter_seconds: float = Field(5.0, ge=0)
    # Versions side by side (docs/operations.md "Canary and pinned versions"): serve PIN_VERSION
    # whatever CURRENT names (unset: follow CURRENT), and answer CANARY_PERCENT % of the users
    # (by a stable hash of their id, service/canary.py) with CANARY_VERSION.
    pin_version: str | None = None
    canary_version: str | None = None
    canary_percent: float = Field(0.0, ge=0, le=100)
    redis_url: str = "redis://127.0.0.1:6379/0"  # with REDIS_CLUSTER: any one node
    # A Redis Cluster (docs/operations.md "Redis Cluster"): the client finds the nodes and
    # follows their slots; it needs the v2 key format (one user's keys in one hash slot).
    redis_cluster: bool = False
    # The key layout (contracts/redis_keys.py): v1 (single node), v2 (cluster-safe hash tags).
    # Unset: v2 with REDIS_CLUSTER, else v1 — what existing single-node deployments hold.
    redis_key_format: KeyFormat | None = None
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
    access_log: bool = True  # a JSON line per request (~0.04 ms of CPU each); metrics stay on
    # Tracing (service/tracing.py, docs/operations.md "Tracing"): OpenTelemetry's own variables.
    # Spans are exported by OTLP/HTTP when an endpoint is set; unset, opentelemetry is not even
    # imported. The SDK reads the rest itself (OTEL_BSP_*, OTEL_EXPORTER_OTLP_HEADERS, …).
    otel_exporter_otlp_endpoint: str | None = None  # the collector's base URL (+ /v1/traces)
    otel_exporter_otlp_traces_endpoint: str | None = None  # the full URL, over the base one
    otel_service_name: str = Field("interaction-candidates", min_length=1)
    otel_traces_sampler: Sampler = "parentbased_always_on"  # the caller's decision, else all
    otel_traces_sampler_arg: float | None = Field(None, ge=0, le=1)  # the ratio; unset: 1.0

    @field_validator("viewed_targets", "carted_targets", mode="before")
    @classmethod
    def _interactions(cls, value: object) -> tuple[Interaction, ...]:
        names = value.split(",") if isinstance(value, str) else value
        if not isinstance(names, list | tuple) or not names:
            raise ValueError("give at least one interaction, e.g. 'view' or 'view,cart'")
        parsed = [n if isinstance(n, Interaction) else Interaction.parse(str(n)) for n in names]
        return tuple(dict.fromkeys(parsed))

    @field_validator("artifacts_dir", mode="before")
    @classmethod
    def _location(cls, value: object) -> Location:
        """A folder or s3://bucket/prefix; a malformed URL is refused, never taken for a folder."""
        if not isinstance(value, str | PathLike | S3Location):
            raise ValueError("give a folder or s3://bucket/prefix")
        location = parse_location(value)
        if isinstance(location, S3Location) and find_spec("boto3") is None:
            raise ValueError(f"{location} needs boto3: pip install 'interaction-candidates[s3]'")
        return location

    @field_validator("pin_version", "canary_version", mode="before")
    @classmethod
    def _version_id(cls, value: object) -> object:
        """A published version's id (``versions list``), or unset when empty."""
        if isinstance(value, str):
            return check_version_id(value.strip()) if value.strip() else None
        return value

    @field_validator("canary_percent")
    @classmethod
    def _percent(cls, value: float, info: ValidationInfo) -> float:
        if abs(value * 100 - round(value * 100)) > 1e-6:
            raise ValueError(f"give a percent in steps of 0.01 (e.g. 5 or 0.5), got {value}")
        if value > 0 and info.data.get("canary_version", "invalid") is None:
            raise ValueError("a canary share needs CANARY_VERSION (the version to send it to)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("otel_traces_sampler", mode="before")
    @classmethod
    def _sampler(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator(
        "otel_exporter_otlp_endpoint",
        "otel_exporter_otlp_traces_endpoint",
        "otel_traces_sampler_arg",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty variable is an unset one (as the OpenTelemetry SDK reads it)."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("otel_exporter_otlp_endpoint", "otel_exporter_otlp_traces_endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _is_http_url(value.strip()):
            raise ValueError(
                "give an http:// or https:// URL (OTLP/HTTP), e.g. http://collector:4318"
            )
        return value.strip()

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

    @model_validator(mode="after")
    def _cluster_keys(self) -> Settings:
        if self.redis_cluster and self.redis_key_format == "v1":
            raise ValueError(
                "redis_key_format v1 cannot be used with redis_cluster: a user's keys would "
                "span hash slots (use v2, or leave REDIS_KEY_FORMAT unset)"
            )
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
    def otlp_variable(self) -> str | None:
        """The variable that turns tracing on (the traces endpoint first); None: tracing off."""
        if self.otel_exporter_otlp_traces_endpoint is not None:
            return "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        return None if self.otel_exporter_otlp_endpoint is None else "OTEL_EXPORTER_OTLP_ENDPOINT"

    @property
    def otlp_traces_endpoint(self) -> str | None:
        """Where spans are posted: the traces endpoint as given, else the base endpoint with the
        signal's path (OTLP's rule); None when tracing is off."""
        if self.otel_exporter_otlp_traces_endpoint is not None:
            return self.otel_exporter_otlp_traces_endpoint
        base = self.otel_exporter_otlp_endpoint
        return None if base is None else base.rstrip("/") + "/v1/traces"

    @property
    def redis_timeout_seconds(self) -> float:
        return self.redis_timeout_ms / 1000

    @property
    def history_ttl_seconds(self) -> int:
        return int(self.history_ttl_days * 86400)


def _is_http_url(text: str) -> bool:
    """An http(s) URL with a host, and a port when it has a colon for one (1 to 65535)."""
    try:
        url = urlsplit(text)
        port = url.port  # ValueError for a port that is not a number, or out of range
    except ValueError:
        return False
    no_port = port is None and url.netloc.endswith(":")
    return url.scheme in ("http", "https") and bool(url.hostname) and not no_port and port != 0
