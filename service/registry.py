"""The model registry: which version is served, and hot swaps to newer ones.

``reload()`` reads ``CURRENT``; if it names a version other than the one served, the version is
loaded beside the live one (verify every sha256, check shapes, warm), then a single reference
is swapped. The workers of one instance take turns and hash a version once between them
(service/coordination.py). Requests read ``registry.model`` once and keep that object for their
whole life, so in-flight requests finish on the old model while new ones get the new model;
nothing is ever mutated in place. A version that fails is refused: the failure is logged and
counted, the old model keeps serving, and that version is not retried until ``CURRENT`` changes
or a reload is forced. A watcher thread calls ``reload()`` every ``interval`` seconds, off the
request path. After a version loads, ``after_load`` runs (the app's ``gc.freeze()``:
service/runtime_monitor.py).

The versions live in a folder or in an object store (``contracts/storage.py``). From an object
store a new version is first downloaded into the instance's cache folder (every sha256 checked
as it lands, once per instance: service/artifact_cache.py), then loaded from there; a store that
cannot be reached is a failed reload that is retried at the next check, not a refused version.
Before loading a new version, the watcher waits a random moment (``jitter_seconds``) so that the
pods of a fleet do not all double their memory at once.

Two settings change what is served (docs/operations.md "Canary and pinned versions"): ``pin``
serves that version whatever ``CURRENT`` names (Triton's "specific" version policy), and
``canary`` holds a second version beside the served one, loaded and verified by the same rules,
which answers ``canary_percent`` % of the users (``model_for``; the split is service/canary.py's).
A canary that is not loaded (not tried yet, not published, refused, its store unreachable)
leaves its users on the served version, counted in ``ic_canary_fallbacks_total``. A refused
canary is retried only by a forced reload; one not published yet, at every check. When both
name the same version, one model is held for both.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from contracts import artifacts, storage
from service import metrics
from service.artifact_cache import ArtifactCache
from service.canary import Unloaded, arm
from service.coordination import ReloadCoordinator
from service.model import Model, ModelLoadError, load_model

log = logging.getLogger("service.registry")


ReloadStatus = Literal["loaded", "unchanged", "refused", "missing"]


@dataclass(frozen=True)
class ReloadResult:
    """What one reload did, and which version is served after it."""

    result: ReloadStatus
    version: str | None  # the version served after the reload
    detail: str = ""
    canary: str | None = None  # the canary version loaded after it (None: none, or not loaded)


class ModelRegistry:
    """Holds the served model (and a canary beside it); thread-safe; one reload at a time."""

    def __init__(
        self,
        artifacts_dir: storage.Location | str,
        ef_search: int | None = None,
        runtime_dir: Path | None = None,
        live_indexes: Collection[str] | None = None,
        cache_dir: Path | None = None,
        jitter_seconds: float = 0.0,
        pin: str | None = None,
        canary_version: str | None = None,
        canary_percent: float = 0.0,
        after_load: Callable[[], None] | None = None,
    ) -> None:
        self.location = storage.parse_location(artifacts_dir)
        self.pin = pin
        self.canary_version = canary_version
        self.canary_percent = canary_percent if canary_version is not None else 0.0
        self.ef_search = ef_search
        self.live_indexes = live_indexes
        self.jitter_seconds = jitter_seconds
        self.after_load = after_load  # called once a version (served or canary) is loaded
        self.coordinator = ReloadCoordinator(runtime_dir)
        # the local folder the served versions are read from (the cache for a remote store)
        self.cache: ArtifactCache | None = None
        if isinstance(self.location, Path):
            self.artifacts_dir = self.location
        else:
            self.cache = ArtifactCache(cache_dir, runtime_dir)
            self.artifacts_dir = self.cache.folder
        self._store: storage.Store | None = None
        self._model: Model | None = None
        self._canary: Model | None = None
        self._canary_state: tuple[Unloaded, str] = ("loading", "not loaded yet")
        self._canary_logged: str | None = None
        self._refused: dict[str, str] = {}
        self._problem: str | None = None
        _publish_canary_metrics(None, 0.0)  # nothing of a canary until one loads
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def model(self) -> Model | None:
        """The served model (read it once per request and keep the reference)."""
        return self._model

    @property
    def canary(self) -> Model | None:
        """The canary model when one is configured and loaded."""
        return self._canary

    @property
    def problem(self) -> str | None:
        """Why the last reload did not serve what CURRENT names (None when it did)."""
        return self._problem

    @property
    def canary_problem(self) -> str | None:
        """Why the configured canary is not loaded (None: loaded, or none configured)."""
        if self.canary_version is None or self._canary is not None:
            return None
        reason, detail = self._canary_state
        return f"{reason}: {detail}"

    def model_for(self, user_id: str) -> Model | None:
        """The model that answers ``user_id``: the canary for its share of the users (when it
        is loaded), else the served one; None until a model is served."""
        served = self._model
        if served is None or self.canary_percent <= 0:
            return served
        if arm(user_id, self.canary_percent) == "primary":
            return served
        model = self._canary
        if model is None:
            reason, detail = self._canary_state
            metrics.CANARY_FALLBACKS.labels(reason).inc()
            if self._canary_logged != detail:  # once per state, not once per request
                self._canary_logged = detail
                log.warning(
                    "canary not loaded: its users get the served version",
                    extra={"version": self.canary_version, "reason": reason, "detail": detail},
                )
            return served
        return model

    def reload(self, force: bool = False, stagger: float = 0.0) -> ReloadResult:
        """Serve the version ``CURRENT`` names (or the pinned one) if it is new and sound, and
        load the canary if one is configured and not loaded yet; never raises.

        ``stagger``: with a model already served, wait a random moment up to this many seconds
        before loading a new version (the watcher's jitter; an asked-for reload does not wait).
        """
        with self._lock:
            canary = self._canary
            result = self._reload_served(force, stagger)
            if self.canary_version is not None and self._canary is None:
                self._reload_canary(self.canary_version, force)
            if self.after_load is not None and (
                result.result == "loaded" or self._canary is not canary
            ):
                self.after_load()  # (the replaced model is no longer referenced here)
            if self._canary is None:
                return result
            return ReloadResult(result.result, result.version, result.detail, self._canary.version)

    def _reload_served(self, force: bool, stagger: float) -> ReloadResult:
        served = self._model.version if self._model else None
        try:
            store = self._open_store()
            wanted = self.pin if self.pin is not None else store.read_current()
        except (artifacts.ArtifactError, OSError) as exc:
            return self._fail(None, served, f"cannot read CURRENT: {exc}")
        if wanted is None:
            self._problem = f"no CURRENT in {self.location}"
            return ReloadResult("missing", served, self._problem)
        if wanted == served:
            self._problem = None
            return ReloadResult("unchanged", served)
        if wanted in self._refused and not force:
            return ReloadResult("refused", served, self._refused[wanted])
        if served is not None and stagger > 0 and self._stop.wait(random.uniform(0, stagger)):
            return ReloadResult("unchanged", served, "stopping")
        try:
            if self._canary is not None and self._canary.version == wanted:
                model = self._canary  # the canary promoted: one model for both
            else:
                model = self._load(store, wanted)
        except storage.StoreError as exc:  # the store, not the version: retried next time
            self._prune_cache()
            return self._fail(None, served, f"cannot fetch version {wanted}: {exc}")
        except ModelLoadError as exc:
            self._prune_cache()  # a refused download is not kept
            # a pinned version not published yet is looked for again at the next check
            unpublished = wanted == self.pin and not _published(store, wanted)
            return self._fail(None if unpublished else wanted, served, str(exc))
        previous, self._model = self._model, model
        self._refused.pop(wanted, None)
        self._problem = None
        self._record_serving()
        self._prune_cache()
        _publish_metrics(model, previous)
        metrics.RELOADS.labels("loaded").inc()
        log.info(
            "serving model version",
            extra={"version": wanted, "previous": served, "seconds": model.load_seconds},
        )
        return ReloadResult("loaded", wanted)

    def _reload_canary(self, version: str, force: bool) -> None:
        """Load the canary version by the served version's rules (the same model when both are
        the same version); on failure keep its reason for ``model_for`` and /readyz."""
        if version in self._refused and not force:
            self._canary_state = ("refused", self._refused[version])
            return
        served = self._model
        if served is not None and served.version == version:
            model = served
        else:
            try:
                store = self._open_store()
                model = self._load(store, version)
            except (artifacts.ArtifactError, OSError) as exc:  # StoreError: retried next time
                self._prune_cache()
                self._canary_failed("unavailable", None, f"cannot fetch canary {version}: {exc}")
                return
            except ModelLoadError as exc:
                self._prune_cache()
                if not _published(store, version):
                    self._canary_failed("missing", None, str(exc))  # looked for at every check
                else:
                    self._canary_failed("refused", version, str(exc))
                return
        self._canary = model
        self._refused.pop(version, None)
        self._record_serving()
        _publish_canary_metrics(model, self.canary_percent)
        log.info(
            "canary version loaded",
            extra={
                "version": version,
                "percent": self.canary_percent,
                "seconds": model.load_seconds,
            },
        )

    def _canary_failed(self, reason: Unloaded, refused: str | None, detail: str) -> None:
        self._canary_state = (reason, detail)
        if refused is not None:
            self._refused[refused] = detail
        metrics.RELOADS.labels("failed").inc()
        log.error(
            "canary reload failed",
            extra={"version": self.canary_version, "reason": detail, "state": reason},
        )

    def _record_serving(self) -> None:
        self.coordinator.record_serving(*self._loaded_versions())

    def _loaded_versions(self) -> list[str]:
        models = (self._model, self._canary)
        return list(dict.fromkeys(m.version for m in models if m is not None))

    def wait_while_peers_serve(self, longest_pause: float = 60.0) -> None:
        """With no model loaded while a live peer of this instance serves one, retry (forced,
        pausing 1 s, 2 s, … up to ``longest_pause``) until a model loads or no peer serves any.

        The app calls this before its server listens (service/workers.py): a worker that cannot
        load the version its peers serve — artifacts unreadable for it just then — takes no
        share of the traffic instead of answering 503 for it. Alone, it returns at once: a
        worker with no model and no serving peer listens and reports not ready, as a fresh
        instance does before the first version is published.
        """
        pause = 1.0
        while self._model is None and (peers := self.coordinator.peers_serving()):
            log.warning(
                "no model loaded while peers serve one: not listening until a version loads",
                extra={"peers": _versions(peers), "retry_seconds": pause},
            )
            if self._stop.wait(pause):
                return
            self.reload(force=True)
            pause = min(pause * 2, longest_pause)

    def _open_store(self) -> storage.Store:
        if self._store is None:
            self._store = storage.open_store(self.location)
        return self._store

    def _load(self, store: storage.Store, version: str) -> Model:
        """Load ``version`` in this instance's reload turn, hashing it unless a peer just did
        (or the download just did: a remote version is fetched into the cache first, once)."""
        with self.coordinator.turn():
            started = time.perf_counter()
            try:
                root, hashed = store.fetch(version, self.artifacts_dir)
            except storage.StoreError:
                raise
            except (artifacts.ArtifactError, OSError, ValueError) as exc:
                raise ModelLoadError(f"version {version} refused: {exc}") from exc
            if hashed:
                seconds = round(time.perf_counter() - started, 3)
                log.info("downloaded model version", extra={"version": version, "seconds": seconds})
            folder = artifacts.version_dir(root, version)
            trusted = hashed or self.coordinator.is_verified(folder)
            model = load_model(root, version, self.ef_search, not trusted, self.live_indexes)
            if not self.coordinator.is_verified(folder):
                self.coordinator.mark_verified(folder)
            return model

    def _prune_cache(self) -> None:
        """Drop the cached versions no worker of this instance serves (object stores only)."""
        if self.cache is None:
            return
        serving = {*_versions(self.coordinator.peers_serving()), *self._loaded_versions()}
        with self.coordinator.turn():
            self.cache.prune(serving)

    def start(self, interval: float) -> None:
        """Check ``CURRENT`` every ``interval`` seconds in a daemon thread (0: never)."""
        if interval <= 0 or self._watcher is not None:
            return
        self._stop.clear()
        self._watcher = threading.Thread(
            target=self._watch, args=(interval,), name="model-watcher", daemon=True
        )
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None
        if self.cache is not None:
            self.cache.close()

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.reload(stagger=min(self.jitter_seconds, interval))

    def _fail(self, version: str | None, served: str | None, reason: str) -> ReloadResult:
        if version is not None:
            self._refused[version] = reason
        self._problem = reason
        metrics.RELOADS.labels("failed").inc()
        log.error("model reload failed", extra={"version": version, "reason": reason})
        return ReloadResult("refused", served, reason)


def _versions(peers: dict[int, tuple[str, ...]]) -> list[str]:
    """Every version the peers hold, sorted."""
    return sorted({version for held in peers.values() for version in held})


def _published(store: storage.Store, version: str) -> bool:
    """Whether the store lists ``version`` (a failure to list counts as published: refused)."""
    try:
        return version in store.list_versions()
    except (artifacts.ArtifactError, OSError):
        return True


def _publish_canary_metrics(model: Model | None, percent: float) -> None:
    """The canary's gauges: its version (none before it loads) and the share it answers."""
    metrics.CANARY_INFO.clear()
    if model is not None:
        metrics.CANARY_INFO.labels(model.version).set(1)
    metrics.CANARY_PERCENT.set(percent if model is not None else 0.0)


def _publish_metrics(model: Model, previous: Model | None) -> None:
    """The served version's gauges. The previous version's series are set to 0 rather than
    removed (a worker's multiprocess file cannot forget a label); ``metrics.render`` leaves
    them out."""
    if previous is not None:
        metrics.MODEL_INFO.labels(previous.version).set(0)
        for name in previous.index_sizes():
            metrics.INDEX_SIZE.labels(name).set(0)
    metrics.MODEL_INFO.clear()  # this process's labels (one process: the whole story)
    metrics.INDEX_SIZE.clear()
    metrics.MODEL_INFO.labels(model.version).set(1)
    metrics.MODEL_CREATED.set(model.manifest.created_at.timestamp())
    metrics.MODEL_LOAD_SECONDS.set(model.load_seconds)
    for name, size in model.index_sizes().items():
        metrics.INDEX_SIZE.labels(name).set(size)
