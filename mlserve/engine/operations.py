"""An operator's changes to a running engine: load, unload, live reload, and the model
repository's index. The engine's half that changes which versions serve; `InferenceCore`
delegates to it, and it reaches the registry and the batchers through the core.

Invariant: one reload at a time (`_reloading`); a reload swaps the table in one step, after
the new versions loaded beside the old ones, so every request sees one table or the other.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from mlserve.config.load import load_manifest
from mlserve.config.schema import Manifest, ServerSpec
from mlserve.engine.registry import ModelEntry, Table
from mlserve.errors import LoadFailed, ManifestError, MlserveError, ReloadRefused

if TYPE_CHECKING:
    from mlserve.engine.core import InferenceCore

log = logging.getLogger("mlserve.predict")

# Our load states as the model-repository extension (Triton) names them.
REPOSITORY_STATES = {
    "not_loaded": "UNAVAILABLE",
    "loading": "LOADING",
    "ready": "READY",
    "failed": "UNAVAILABLE",
    "unloaded": "UNAVAILABLE",
}


class Operations:
    """Load, unload, reload and the repository index of one engine."""

    def __init__(self, core: InferenceCore) -> None:
        self._core = core
        self._reloading = asyncio.Lock()

    @property
    def _drain_s(self) -> float:
        return self._core.manifest.server.request_timeout_s

    def _named(self, name: str, version: str | None) -> list[ModelEntry]:
        """One version (aliases allowed), or every version of `name`; 404 if unknown."""
        if version is not None:
            return [self._core._registry.resolve(name, version)]
        return [self._core._registry.resolve(name, v) for v in self._core._registry.versions(name)]

    async def load_model(self, name: str, version: str | None = None) -> list[ModelEntry]:
        """Load a version the manifest names (every version without one), again if it failed
        or was unloaded; `LoadFailed` says why one did not load."""
        entries = self._named(name, version)
        for entry in entries:
            await self._core._registry.load(entry, again=True)
        failed = [e for e in entries if e.status != "ready"]
        if failed:
            entry = failed[0]
            raise LoadFailed(
                f"model {entry.spec.name!r} version {entry.spec.version!r} failed to load: "
                f"{entry.public_reason}"
            )
        return entries

    async def unload_model(self, name: str, version: str | None = None) -> list[ModelEntry]:
        """Refuse new requests to a version (every version without one), finish the ones it
        holds, then free it."""
        entries = self._named(name, version)
        for entry in entries:
            await self._core._registry.unload(entry, self._drain_s)
            await self._core._close_batcher(entry)
        self._core._registry.collect_released()
        return entries

    async def reload(self, manifest: Manifest | None = None) -> dict[str, list[str]]:
        """Apply a new manifest (default: the manifest file, read again) without a restart;
        its `server` section needs one. A broken manifest changes nothing (ReloadRefused,
        with the message `validate` gives). New and changed versions load beside the old
        ones and take over in one step once ready; a changed version that fails to load
        leaves the old one serving; removed and replaced versions finish their requests,
        then go."""
        # Reloads run one at a time, and each reads the file when its turn comes: read before
        # waiting, a slow reload that finished after a newer one put the older file back.
        async with self._reloading:
            if manifest is None:
                manifest = await self._read_manifest()
            before = self._core.manifest
            restart_needed = changed_server_keys(before.written_server, manifest.server)
            if restart_needed:
                log.warning(
                    "reload: server settings changed (%s); they take effect at the next "
                    "start, not on a reload",
                    ", ".join(restart_needed),
                    extra={"event": "reload_needs_restart"},
                )
            manifest = manifest.serving_with(before.server, written=manifest.server)
            table = self._core._registry.plan(manifest)
            current = set(self._core._registry.entries())
            report = await self._load_new_versions(table, current)
            report["routing"] = changed_routing(before, manifest)
            report["restart_needed"] = restart_needed
            self._core._registry.swap(table)
            self._core.manifest = manifest
            kept = set(table.entries())
            retired = [e for e in current if e not in kept]
            report["removed"] = sorted({e.spec.key for e in retired} - set(report["loaded"]))
            await asyncio.gather(*(self._retire(e) for e in retired))
            if retired:
                self._core._registry.collect_released()
            self._core.observers.tell("reloaded", "applied", [*report["kept"], *report["failed"]])
            log.info(
                "reloaded %s: %s",
                manifest.source,
                ", ".join(f"{k} {len(v)}" for k, v in report.items() if k in COUNTED),
                extra={"event": "reloaded", **report},
            )
            return report

    async def _read_manifest(self) -> Manifest:
        try:
            return await asyncio.to_thread(load_manifest, self._core.manifest.source)
        except ManifestError as exc:
            log.error("reload refused: %s", exc, extra={"event": "reload_refused"})
            self._core.observers.tell("reloaded", "refused", [])
            raise ReloadRefused(str(exc)) from None

    async def _load_new_versions(
        self, table: Table, current: set[ModelEntry]
    ) -> dict[str, list[str]]:
        """Load the table's new entries (startup ones, and those replacing a loaded version)
        while the current ones serve; where a replacement fails, put the current entry back
        in the table, so that it keeps serving."""
        report: dict[str, list[str]] = {
            "loaded": [],
            "kept": [],
            "failed": [],
            "removed": [],
            "reasons": [],  # "name:version: why", for each kept or failed version
        }
        for name, versions in table.by_name.items():
            for version, entry in list(versions.items()):
                if entry in current:
                    continue
                before = self._current(name, version)
                if entry.spec.load == "startup" or (before and before.status == "ready"):
                    await self._core._registry.load(entry)
                if entry.status == "failed" and before is not None and before.runtime:
                    before.replacement_error = entry.reason
                    versions[version] = before
                    report["kept"].append(entry.spec.key)
                    report["reasons"].append(f"{entry.spec.key}: {entry.public_reason}")
                    log.error(
                        "reload: model %s keeps its previous files: %s",
                        entry.spec.key,
                        entry.reason,
                        extra={"event": "reload_kept", "model": name, "version": version},
                    )
                elif entry.status == "failed":
                    report["failed"].append(entry.spec.key)
                    report["reasons"].append(f"{entry.spec.key}: {entry.public_reason}")
                else:
                    report["loaded"].append(entry.spec.key)
        return report

    def _current(self, name: str, version: str) -> ModelEntry | None:
        try:
            return self._core._registry.resolve(name, version)
        except MlserveError:
            return None

    async def _retire(self, entry: ModelEntry) -> None:
        if not await entry.drain(self._drain_s):
            log.warning("model %s retired with requests still running", entry.spec.key)
        await self._core._close_batcher(entry)
        self._core._registry.release(entry)

    def repository_index(self, *, ready_only: bool = False) -> list[dict[str, Any]]:
        """Every version the manifest names, in the model-repository extension's form."""
        index = []
        for entry in self._core._registry.entries():
            if ready_only and entry.status != "ready":
                continue
            row = {
                "name": entry.spec.name,
                "version": entry.spec.version,
                "state": REPOSITORY_STATES[entry.status],
                "reason": entry.replacement_error or entry.public_reason or "",
            }
            index.append(row)
        return index


# The report's lists that the reload's log line counts (the rest are names or reasons).
COUNTED = ("loaded", "kept", "failed", "removed")


def changed_server_keys(before: ServerSpec, after: ServerSpec) -> list[str]:
    """The `server:` settings the file changed: a reload keeps the running ones (a port, a
    key variable, a CPU budget belong to the process), so these wait for a restart."""
    old, new = before.model_dump(), after.model_dump()
    return [f"server.{key}" for key in new if new[key] != old.get(key)]


def changed_routing(before: Manifest, after: Manifest) -> list[str]:
    """The model names whose aliases, split or shadow the new manifest changes."""
    names = set(before.routing) | set(after.routing)
    return sorted(n for n in names if before.routing.get(n) != after.routing.get(n))
