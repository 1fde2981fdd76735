"""Which model versions exist, which one is the default, and whether each is loaded.

Each (name, version) has one entry with a status: not_loaded -> loading -> ready | failed,
and ready -> unloaded when an operator unloads it. Loads are single-flight: however many
requests arrive together, the file is read once. A model that fails to load is marked failed
with its reason and never takes the others down.

A request holds its entry from look-up to answer (`hold`), so that an entry being unloaded or
replaced by a reload serves every request that found it before it goes (`drain`). A reload
builds the new table of entries aside (`plan`) and puts it in place in one step (`swap`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import re
import time
import weakref
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlserve.config.schema import Manifest, ModelSpec, RoutingSpec
from mlserve.engine import cpus, integrity
from mlserve.engine.context import routing_key
from mlserve.engine.tuning import ProcessTuning
from mlserve.errors import ModelNotFound, ModelNotReady
from mlserve.runtimes import missing_framework, resolve_runtime
from mlserve.runtimes._base import Runtime, RuntimeInfo

log = logging.getLogger("mlserve.registry")

Status = Literal["not_loaded", "loading", "ready", "failed", "unloaded"]
LOADING_RETRY_AFTER_S = 5
UNLOADED = "unloaded"
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s/:'\"]+/)+([^\s/:'\"]+)")
_DIGEST = re.compile(r"\b[0-9a-fA-F]{64}\b")


def redact(text: str) -> str:
    """A load error as anyone may see it: file names without their folders, no digests."""
    return _DIGEST.sub("<sha256>", _ABSOLUTE_PATH.sub(r"\1", text))


def fingerprint(path: Path) -> tuple[Any, ...]:
    """What tells that a model file (or any file in a model folder) changed in place."""
    try:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    except OSError:
        return ()


@dataclass(eq=False)  # compared and hashed by identity: a reload may hold two of one version
class ModelEntry:
    """One model version and its load state."""

    spec: ModelSpec
    is_default: bool
    status: Status = "not_loaded"
    reason: str | None = None
    load_seconds: float | None = None
    runtime: Runtime | None = None
    # The files as they were when loaded: a reload loads the version again if they changed.
    loaded_files: tuple[Any, ...] = ()
    # Why a reload could not replace this version (it keeps serving meanwhile).
    replacement_error: str | None = None
    holders: int = 0  # requests between look-up and answer
    _idle: asyncio.Event | None = field(default=None, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def info(self) -> RuntimeInfo:
        assert self.runtime is not None
        return self.runtime.describe()

    @property
    def input_kind(self) -> str:
        """What the model takes: from the loaded model, else from the manifest."""
        if self.runtime is not None:
            return self.info.input_kind
        return self.spec.options.input_kind()

    @property
    def public_reason(self) -> str | None:
        return None if self.reason is None else redact(self.reason)

    def state(self, *, full: bool = True) -> dict[str, Any]:
        """The entry's load state; `full=False` hides folders and digests from the reason
        (for callers without an API key)."""
        return {
            "model": self.spec.name,
            "version": self.spec.version,
            "status": self.status,
            "load": self.spec.load,
            "reason": self.reason if full else self.public_reason,
            "load_seconds": self.load_seconds,
            **({"replacement_error": self._error(full)} if self.replacement_error else {}),
        }

    def _error(self, full: bool) -> str | None:
        error = self.replacement_error
        return error if full or error is None else redact(error)

    def hold(self) -> ModelEntry:
        """Keep this version loaded while a request uses it: `with entry.hold(): ...`
        (the entry is its own context manager: no generator per request)."""
        return self

    def __enter__(self) -> None:
        self.holders += 1

    def __exit__(self, *exc: object) -> None:
        self.holders -= 1
        if self.holders == 0 and self._idle is not None:
            self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Wait until no request holds this version (at most `timeout` seconds)."""
        while self.holders:
            self._idle = asyncio.Event()
            try:
                await asyncio.wait_for(self._idle.wait(), timeout)
            except TimeoutError:
                return False
        return True


class ModelRegistry:
    """Name -> versions -> entry, built from a validated manifest."""

    def __init__(
        self,
        manifest: Manifest,
        runtime_factory: Callable[[ModelSpec], Runtime] | None = None,
        tuning: ProcessTuning | None = None,
    ) -> None:
        self.manifest = manifest
        self.budget = cpus.detect(manifest.server.cpus)
        self.tuning = tuning  # a server's; None leaves the interpreter as it is
        self.native_threads: int | None = None  # BLAS/OpenMP threads, as last sized
        self._new_runtime = runtime_factory or local_runtime
        self.listeners: list[Callable[[ModelEntry], None]] = []  # told of every state change
        self.serving = False  # the startup models are loaded
        self._released: list[weakref.ref[Any]] = []  # what release() dropped
        self._by_name: dict[str, dict[str, ModelEntry]] = {}  # empty until the first swap
        self.swap(self.plan(manifest))

    def plan(self, manifest: Manifest) -> Table:
        """The table of entries for `manifest`: this registry's entry where a version is
        unchanged (same spec but for `default`, same files), a new entry elsewhere."""
        current = self._by_name
        by_name: dict[str, dict[str, ModelEntry]] = {}
        default_version: dict[str, str] = {}
        for spec in manifest.models:
            by_name.setdefault(spec.name, {})
        for name, versions in by_name.items():
            specs = [s for s in manifest.models if s.name == name]
            # An explicit `default: true` wins; otherwise the last listed (newest) version.
            default = next((s for s in specs if s.default), specs[-1])
            default_version[name] = default.version
            for spec in specs:
                old = current.get(name, {}).get(spec.version)
                if old is not None and _unchanged(old, spec):
                    versions[spec.version] = old
                else:
                    versions[spec.version] = ModelEntry(spec, False)
        return Table(
            by_name,
            default_version,
            manifest.server.default_model or manifest.models[0].name,
            dict(manifest.routing),
        )

    def swap(self, table: Table) -> None:
        """Put `table` in place, in one step (no await: a request sees the old or the new)."""
        self.manifest_routing = table.routing
        self._by_name = table.by_name
        self._default_version = table.default_version
        self.default_model = table.default_model
        for name, versions in table.by_name.items():
            for version, entry in versions.items():
                entry.is_default = version == table.default_version[name]
                if entry.spec.default != entry.is_default:  # keep the spec saying the same
                    entry.spec = entry.spec.model_copy(update={"default": entry.is_default})

    def entries(self) -> list[ModelEntry]:
        return [e for versions in self._by_name.values() for e in versions.values()]

    def routing(self, name: str) -> RoutingSpec | None:
        return self.manifest_routing.get(name)

    def resolve(
        self, name: str | None = None, version: str | None = None, kind: str | None = None
    ) -> ModelEntry:
        """Find an entry; unknown model or version is a 404 that lists what exists.

        With no name and no version, `kind` picks the default model of that kind: the default
        model if it takes that input, else the first model listed that does."""
        if name is None and version is None and kind is not None:
            name = self._default_of_kind(kind)
        name = name or self.default_model
        versions = self._by_name.get(name)
        if versions is None:
            raise ModelNotFound(
                f"unknown model {name!r}; available: {', '.join(sorted(self._by_name))}"
            )
        routing = self.manifest_routing.get(name)
        if version is None:
            version = self._split(routing) if routing and routing.traffic else None
            version = version or self._default_version[name]
        elif routing is not None:
            version = routing.version_of(version)
        entry = versions.get(version)
        if entry is None:
            raise ModelNotFound(
                f"model {name!r} has no version {version!r}; available: {', '.join(versions)}"
            )
        return entry

    @staticmethod
    def _split(routing: RoutingSpec) -> str:
        """A version drawn by the traffic weights; the same routing key, the same version."""
        key = routing_key()
        # a traffic split, not a secret: random is fine
        point = random.random() * 100 if key is None else zlib.crc32(key.encode()) % 10_000 / 100
        chosen = ""
        for version, percent in routing.traffic.items():
            if percent > 0:
                chosen = version
                point -= percent
                if point < 0:
                    break
        return routing.version_of(chosen)

    def _default_of_kind(self, kind: str) -> str:
        candidates = [self.default_model, *self._by_name]
        for name in candidates:
            if self.resolve(name).input_kind == kind:
                return name
        return self.default_model

    def versions(self, name: str) -> list[str]:
        self.resolve(name)  # 404 for an unknown name
        return list(self._by_name[name])

    async def ensure_ready(self, entry: ModelEntry) -> Runtime:
        """Return the loaded runtime, loading a lazy model once on first use."""
        if entry.status == "ready" and entry.runtime is not None:
            return entry.runtime
        if entry.status == "unloaded":
            raise ModelNotReady(
                f"model {entry.spec.name!r} version {entry.spec.version!r} is unloaded; "
                "an operator can load it again (`mlserve load NAME:VERSION`, or the "
                "repository API's load)",
                reason=UNLOADED,
            )
        if entry.status == "failed":
            # No Retry-After: nothing retries a failed load, so a retry would fail the same way.
            raise ModelNotReady(
                f"model {entry.spec.name!r} version {entry.spec.version!r} failed to load: "
                f"{entry.public_reason}"
            )
        if entry.spec.load == "startup" and entry.status == "loading":
            raise ModelNotReady(
                f"model {entry.spec.name!r} version {entry.spec.version!r} is still loading",
                retry_after=LOADING_RETRY_AFTER_S,
            )
        await self.load(entry)
        return await self.ensure_ready(entry)

    async def load(self, entry: ModelEntry, *, again: bool = False) -> None:
        """Load `entry` once; `again` also retries a failed or unloaded one (an operator's
        explicit load)."""
        async with entry._lock:
            if again and entry.status in ("failed", "unloaded"):
                entry.reason = None
                self._set(entry, "not_loaded")
            if entry.status in ("ready", "failed", "unloaded"):
                return
            self._set(entry, "loading")
            started = time.monotonic()
            files = fingerprint(entry.spec.path)  # before reading: a change while loading shows
            try:
                runtime = await asyncio.to_thread(self._load_runtime, entry.spec)
            except Exception as exc:  # any load error marks this model failed, not the server
                entry.reason = f"{type(exc).__name__}: {exc}"
                if entry.spec.path.name not in entry.reason:  # frameworks rarely name it
                    entry.reason = f"{entry.spec.path.name}: {entry.reason}"
                self._set(entry, "failed")
                log.error(
                    "model %s failed to load: %s",
                    entry.spec.key,
                    entry.reason,
                    extra={
                        "model": entry.spec.name,
                        "version": entry.spec.version,
                        "event": "load_failed",
                        "reason": entry.reason,
                    },
                )
                return
            entry.runtime = runtime
            entry.loaded_files = files
            entry.replacement_error = None
            entry.load_seconds = round(time.monotonic() - started, 4)
            self._set(entry, "ready")
            if self.tuning is not None:
                self.tuning.after_load(serving=self.serving)
            log.info(
                "model %s loaded in %.3fs",
                entry.spec.key,
                entry.load_seconds,
                extra={
                    "model": entry.spec.name,
                    "version": entry.spec.version,
                    "event": "loaded",
                    "load_seconds": entry.load_seconds,
                },
            )

    async def load_startup(self) -> None:
        """Load every `load: startup` model: the first of each runtime one after another,
        since that load imports its framework, and two frameworks importing in two threads at
        once can deadlock or see a half-initialised module; then the rest concurrently, at
        most one per CPU of the budget."""
        startup = [e for e in self.entries() if e.spec.load == "startup"]
        for entry in startup:  # pending: requests get a 503 "still loading", not a second load
            if entry.status == "not_loaded":
                self._set(entry, "loading")
        importing = {entry.spec.runtime: entry for entry in reversed(startup)}
        for entry in startup:
            if importing.get(entry.spec.runtime) is entry:
                await self.load(entry)
        slots = asyncio.Semaphore(self.budget.cpus)

        async def in_a_slot(entry: ModelEntry) -> None:
            async with slots:
                await self.load(entry)

        await asyncio.gather(*(in_a_slot(entry) for entry in startup))
        self.serving = True

    def _set(self, entry: ModelEntry, status: Status) -> None:
        entry.status = status
        for listener in self.listeners:
            listener(entry)

    async def unload(self, entry: ModelEntry, drain_s: float) -> None:
        """Refuse new requests to `entry` (503, reason "unloaded"), let the ones that hold it
        finish (at most `drain_s`), then free the model."""
        async with entry._lock:
            if entry.status == "unloaded":
                return
            entry.reason = UNLOADED
            self._set(entry, "unloaded")
            if not await entry.drain(drain_s):
                log.warning("model %s unloaded with requests still running", entry.spec.key)
            self.release(entry, "unloaded")

    def collect_released(self) -> None:
        """Free released models held only by reference cycles. A full collection holds the
        event loop, so it runs only when a released runtime or a model it held outlived its
        `unload()` and release (reference counting frees most at once)."""
        alive = [ref for ref in self._released if ref() is not None]
        self._released.clear()
        if not alive:
            return
        if self.tuning is not None:
            self.tuning.after_release()  # thaws the frozen heap first
        else:
            gc.collect()

    def release(self, entry: ModelEntry, status: Status = "not_loaded") -> None:
        """Drop the entry's model (its last requests are done or given up); call
        `collect_released` once the models to release are."""
        if entry.runtime is None:
            return
        self._released += _weak_refs(entry.runtime)
        try:
            entry.runtime.unload()
        except Exception:  # freeing must not stop the reload or shutdown that asked for it
            log.exception("model %s: unload failed", entry.spec.key)
        entry.runtime = None
        if entry.status != status:
            entry.status = status
            if any(e is entry for e in self.entries()):  # a retired one no longer tells
                self._set(entry, status)
        log.info(
            "model %s unloaded",
            entry.spec.key,
            extra={"model": entry.spec.name, "version": entry.spec.version, "event": "unloaded"},
        )

    def unload_all(self) -> None:
        for entry in self.entries():
            self.release(entry)

    def _load_runtime(self, spec: ModelSpec) -> Runtime:
        threads = self.budget.threads_for(spec.threads)
        runtime = self._new_runtime(spec.model_copy(update={"threads": threads}))
        try:
            runtime.load()
        except ImportError as exc:
            if not _is_module_name(exc.name):  # a pickle's bytes read as a module name
                raise ValueError(
                    f"not a {spec.runtime} model file (reading it asked for a module named "
                    f"{(exc.name or '')[:40]!r})"
                ) from None
            raise missing_framework(spec.runtime, exc) from None  # say what to install
        self.native_threads = cpus.native_pool_threads()  # the model may have loaded pools
        return runtime

    @property
    def ready(self) -> bool:
        return all(
            e.status in ("ready", "unloaded") for e in self.entries() if e.spec.load == "startup"
        )

    def states(self, *, full: bool = True) -> list[dict[str, Any]]:
        return [e.state(full=full) for e in self.entries()]


def _is_module_name(name: str | None) -> bool:
    return bool(name) and all(part.isidentifier() for part in (name or "").split("."))


def _weak_refs(runtime: Runtime) -> list[weakref.ref[Any]]:
    """Weak references to a runtime and to what it holds (its model), where they allow one."""
    refs = []
    for value in [runtime, *vars(runtime).values()]:
        with contextlib.suppress(TypeError):  # ints, strings, specs...
            refs.append(weakref.ref(value))
    return refs


@dataclass(frozen=True)
class Table:
    """Every version of every model, and how requests choose among them."""

    by_name: dict[str, dict[str, ModelEntry]]
    default_version: dict[str, str]
    default_model: str
    routing: dict[str, RoutingSpec]

    def entries(self) -> list[ModelEntry]:
        return [e for versions in self.by_name.values() for e in versions.values()]


def _unchanged(old: ModelEntry, spec: ModelSpec) -> bool:
    """Whether `old` can go on serving `spec`: the same options (being the default aside), a
    successful load or none yet, and the same files as when it loaded."""
    if old.status == "failed":
        return False
    if old.spec.model_copy(update={"default": spec.default}) != spec:
        return False
    return old.runtime is None or old.loaded_files == fingerprint(spec.path)


def local_runtime(spec: ModelSpec) -> Runtime:
    """The runtime for a model file on this machine, checked against its sha256 pin."""
    if not spec.path.exists():
        raise FileNotFoundError(f"model file not found: {spec.path}")
    integrity.verify(spec.path, spec.sha256)
    return resolve_runtime(spec.runtime)(spec)
