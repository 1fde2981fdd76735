"""Which model versions exist, which one is the default, and whether each is loaded.

Each (name, version) has one entry with a status: not_loaded -> loading -> ready | failed.
Loads are single-flight: however many requests arrive together, the file is read once. A model
that fails to load is marked failed with its reason and never takes the others down.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from mlserve import cpus, integrity
from mlserve.errors import ModelNotFound, ModelNotReady
from mlserve.manifest import Manifest, ModelSpec
from mlserve.runtimes import missing_framework, resolve_runtime
from mlserve.runtimes.base import Runtime, RuntimeInfo

log = logging.getLogger("mlserve.registry")

Status = Literal["not_loaded", "loading", "ready", "failed"]
LOADING_RETRY_AFTER_S = 5
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s/:'\"]+/)+([^\s/:'\"]+)")
_DIGEST = re.compile(r"\b[0-9a-fA-F]{64}\b")


def redact(text: str) -> str:
    """A load error as anyone may see it: file names without their folders, no digests."""
    return _DIGEST.sub("<sha256>", _ABSOLUTE_PATH.sub(r"\1", text))


@dataclass
class ModelEntry:
    """One model version and its load state."""

    spec: ModelSpec
    is_default: bool
    status: Status = "not_loaded"
    reason: str | None = None
    load_seconds: float | None = None
    runtime: Runtime | None = None
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
        }


class ModelRegistry:
    """Name -> versions -> entry, built from a validated manifest."""

    def __init__(
        self, manifest: Manifest, runtime_factory: Callable[[ModelSpec], Runtime] | None = None
    ) -> None:
        self.manifest = manifest
        self.budget = cpus.detect(manifest.server.cpus)
        self.native_threads: int | None = None  # BLAS/OpenMP threads, as last sized
        self._new_runtime = runtime_factory or local_runtime
        self._by_name: dict[str, dict[str, ModelEntry]] = {}
        self._default_version: dict[str, str] = {}
        for spec in manifest.models:
            self._by_name.setdefault(spec.name, {})
        for name, versions in self._by_name.items():
            specs = [s for s in manifest.models if s.name == name]
            # An explicit `default: true` wins; otherwise the last listed (newest) version.
            default = next((s for s in specs if s.default), specs[-1])
            self._default_version[name] = default.version
            for spec in specs:
                versions[spec.version] = ModelEntry(spec, is_default=spec is default)
        self.default_model = manifest.server.default_model or manifest.models[0].name
        self.listeners: list[Callable[[ModelEntry], None]] = []  # told of every state change

    def entries(self) -> list[ModelEntry]:
        return [e for versions in self._by_name.values() for e in versions.values()]

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
        version = version or self._default_version[name]
        entry = versions.get(version)
        if entry is None:
            raise ModelNotFound(
                f"model {name!r} has no version {version!r}; available: {', '.join(versions)}"
            )
        return entry

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

    async def load(self, entry: ModelEntry) -> None:
        async with entry._lock:
            if entry.status in ("ready", "failed"):
                return
            self._set(entry, "loading")
            started = time.monotonic()
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
            entry.load_seconds = round(time.monotonic() - started, 4)
            self._set(entry, "ready")
            # A loaded model is hundreds of thousands of long-lived objects; freezing them
            # keeps full GC passes from walking them on every response (measured: a 10,000-row
            # response took 4x longer, and single-row p99 spiked, without it).
            gc.collect()
            gc.freeze()
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
        """Load every `load: startup` model, one after another (frameworks are not thread-safe
        to import concurrently)."""
        startup = [e for e in self.entries() if e.spec.load == "startup"]
        for entry in startup:  # pending: requests get a 503 "still loading", not a second load
            if entry.status == "not_loaded":
                self._set(entry, "loading")
        for entry in startup:
            await self.load(entry)

    def _set(self, entry: ModelEntry, status: Status) -> None:
        entry.status = status
        for listener in self.listeners:
            listener(entry)

    def unload_all(self) -> None:
        for entry in self.entries():
            if entry.runtime is not None:
                entry.runtime = None
                self._set(entry, "not_loaded")
                log.info(
                    "model %s unloaded",
                    entry.spec.key,
                    extra={
                        "model": entry.spec.name,
                        "version": entry.spec.version,
                        "event": "unloaded",
                    },
                )

    def _load_runtime(self, spec: ModelSpec) -> Runtime:
        threads = self.budget.threads_for(spec.threads)
        runtime = self._new_runtime(spec.model_copy(update={"threads": threads}))
        try:
            runtime.load()
        except ImportError as exc:  # the framework is not installed: say what to install
            raise missing_framework(spec.runtime, exc) from None
        self.size_native_pools()  # the model may have loaded new pools
        return runtime

    def size_native_pools(self) -> None:
        """Limit BLAS/OpenMP to the CPU budget, and note how many threads they have now."""
        cpus.limit_native_pools(self.budget.cpus)
        self.native_threads = cpus.native_pool_threads()

    @property
    def ready(self) -> bool:
        return all(e.status == "ready" for e in self.entries() if e.spec.load == "startup")

    def states(self, *, full: bool = True) -> list[dict[str, Any]]:
        return [e.state(full=full) for e in self.entries()]


def local_runtime(spec: ModelSpec) -> Runtime:
    """The runtime for a model file on this machine, checked against its sha256 pin."""
    if not spec.path.exists():
        raise FileNotFoundError(f"model file not found: {spec.path}")
    integrity.verify(spec.path, spec.sha256)
    return resolve_runtime(spec.runtime)(spec)
