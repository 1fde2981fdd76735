"""The inference core: the only path from a request payload to a model and back.

Both front doors call it: the HTTP routes (mlserve.server) and the in-process client
(mlserve.client.local), so the same model and input give the same JSON either way.

    resolve model + version (registry) -> load if lazy -> validate and decode input (inputs.*)
    -> adaptive batcher (queue, coalesce) -> runtime.predict in a worker thread (or, with one
    CPU, on the event loop when the call is short: mlserve.engine.placement)
    -> one JSON-ready dict per request
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from mlserve.config.schema import Manifest, ModelSpec
from mlserve.engine import cpus
from mlserve.engine.answers import Answer, all_finite, check_finite, describe_entry
from mlserve.engine.batching import AdaptiveBatcher, IsGone
from mlserve.engine.context import current_request_id, note_model
from mlserve.engine.observers import CoreObserver, Observers
from mlserve.engine.operations import Operations
from mlserve.engine.placement import ModelCalls, leaves_loop, off_loop
from mlserve.engine.registry import ModelEntry, ModelRegistry
from mlserve.engine.shadows import ShadowTraffic
from mlserve.engine.tuning import ProcessTuning
from mlserve.errors import (
    InferenceFailed,
    InferenceTimeout,
    MlserveError,
)
from mlserve.inputs import KIND_OF_OPERATION, check_kind, tabular, text
from mlserve.runtimes._base import Batch, BatchPrediction, Runtime, RuntimeInfo
from mlserve.wire import Operation

log = logging.getLogger("mlserve.predict")


class InferenceCore:
    """Registry, batchers and worker threads for one manifest.

    Its public surface is all that the routes, V2, the CLI and the Ray backend use: `run` and
    `predict` (JSON payloads), `predict_decoded` (arrays a protocol decoded itself), `model`
    and `ready_model` (look-ups), `versions`, `entries`, `load`, `info` and `readiness`; an
    operator's `load_model`, `unload_model` and `reload` (a new manifest, applied live)."""

    def __init__(
        self,
        manifest: Manifest,
        runtime_factory: Callable[[ModelSpec], Runtime] | None = None,
        *,
        tuning: ProcessTuning | None = None,
    ) -> None:
        """`runtime_factory` decides where models run: in this process (the default), or
        behind a proxy such as the Ray Serve backend's. `tuning`: a server's settings of its
        own process (mlserve.engine.tuning); without it the interpreter is left as it is."""
        self.manifest = manifest
        self.limits = manifest.server.limits
        self._registry = ModelRegistry(manifest, runtime_factory, tuning)
        self._batchers: dict[ModelEntry, AdaptiveBatcher] = {}
        # Room beyond the startup models' needs for versions a reload or a shadow adds.
        threads = sum(_concurrency(e) for e in self._registry.entries()) + 8
        self._executor = ThreadPoolExecutor(min(64, threads), thread_name_prefix="mlserve-model")
        self.observers = Observers()  # e.g. the server's Prometheus metrics
        self._registry.listeners.append(functools.partial(self.observers.tell, "model_state"))
        self._shadows = ShadowTraffic(self._shadow_call, self.observers.tell)
        self.operations = Operations(self)  # an operator's changes: load, unload, reload

    async def start(self) -> None:
        """Apply the server's process tuning, if any, then load every startup model
        (failures are recorded, never raised)."""
        budget = self._registry.budget
        if self._registry.tuning is not None:
            self._registry.tuning.at_start()
        self._registry.native_threads = cpus.native_pool_threads()
        log.info(
            "CPU budget: %d (%s); BLAS/OpenMP threads: %s",
            budget.cpus,
            budget.source,
            self._registry.native_threads,
            extra={"event": "cpu_budget", "cpus": budget.cpus, "source": budget.source},
        )
        await self._registry.load_startup()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[InferenceCore]:
        """The engine while something serves it: startup models load in the background (a
        probe answers meanwhile, `ready` says when they have), and on leaving, loading stops,
        batchers finish and every model is unloaded. Entered once, by whoever serves."""
        loading = asyncio.create_task(self.start())
        try:
            yield self
        finally:
            loading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loading
            await self.close()

    async def close(self) -> None:
        await self._shadows.close()
        for batcher in self._batchers.values():
            await batcher.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._registry.unload_all()

    # -- look-ups ---------------------------------------------------------------------------

    def model(
        self, name: str | None = None, version: str | None = None, kind: str | None = None
    ) -> ModelEntry:
        """A model version (404 if unknown); without a name, the default model of `kind`."""
        return self._registry.resolve(name, version, kind)

    async def ready_model(self, name: str | None, version: str | None = None) -> ModelEntry:
        """A model version, loaded (a lazy one on first use); 503 if it cannot be."""
        entry = self._registry.resolve(name, version)
        await self._registry.ensure_ready(entry)
        return entry

    def versions(self, name: str) -> list[str]:
        return self._registry.versions(name)

    def entries(self) -> list[ModelEntry]:
        return self._registry.entries()

    async def load(self, entry: ModelEntry) -> None:
        await self._registry.load(entry)

    # -- an operator's changes ---------------------------------------------------------------

    async def load_model(self, name: str, version: str | None = None) -> list[ModelEntry]:
        """Load a version the manifest names (every version without one), again if it failed
        or was unloaded; `LoadFailed` says why one did not load."""
        return await self.operations.load_model(name, version)

    async def unload_model(self, name: str, version: str | None = None) -> list[ModelEntry]:
        """Refuse new requests to a version (every version without one), finish the ones it
        holds, then free it."""
        return await self.operations.unload_model(name, version)

    async def reload(self, manifest: Manifest | None = None) -> dict[str, list[str]]:
        """Apply a new manifest (default: the manifest file, read again) without a restart
        (see `Operations.reload`)."""
        return await self.operations.reload(manifest)

    def repository_index(self, *, ready_only: bool = False) -> list[dict[str, Any]]:
        """Every version the manifest names, in the model-repository extension's form."""
        return self.operations.repository_index(ready_only=ready_only)

    async def _close_batcher(self, entry: ModelEntry) -> None:
        batcher = self._batchers.pop(entry, None)
        if batcher is not None:
            await batcher.close()

    def observe(self, observer: CoreObserver) -> None:
        """Tell `observer` of every event from now on, and of each version's state now."""
        self.observers.add(observer)
        for entry in self._registry.entries():
            observer.model_state(entry)

    @property
    def ready(self) -> bool:
        return self._registry.ready

    # -- inference --------------------------------------------------------------------------

    async def run(
        self,
        operation: Operation,
        payload: Any,
        model: str | None = None,
        version: str | None = None,
        is_gone: IsGone | None = None,
    ) -> dict[str, Any]:
        """Validate `payload` for `operation`, run the model, return the response body."""
        return (await self.predict(operation, payload, model, version, is_gone)).body()

    async def predict(
        self,
        operation: Operation,
        payload: Any,
        model: str | None = None,
        version: str | None = None,
        is_gone: IsGone | None = None,
    ) -> Answer:
        """The model's answer to a JSON payload, as arrays."""
        entry = self._registry.resolve(model, version, KIND_OF_OPERATION[operation])
        with entry.hold():  # no unload or reload frees it before this request is answered
            note_model(entry.spec.name, entry.spec.version, 0)
            runtime = await self._registry.ensure_ready(entry)
            info = runtime.describe()
            check_kind(entry.spec.name, info, KIND_OF_OPERATION[operation])
            if leaves_loop(rows=_rows_in(payload), image=operation == "predict_image"):
                batch, single = await off_loop(self._decode, operation, payload, entry, info)
            else:
                batch, single = self._decode(operation, payload, entry, info)
            return await self._answer(entry, batch, single, operation, is_gone)

    async def predict_decoded(
        self,
        entry: ModelEntry,
        inputs: np.ndarray | list[str] | bytes | str,
        is_gone: IsGone | None,
    ) -> Answer:
        """The model's answer to inputs a protocol decoded itself (V2 tensors): a 2-D array
        of rows for tabular models, texts for text models, one encoded image (bytes, or base64
        text) for image models.
        `entry` comes from `ready_model`. The same checks as for JSON payloads apply."""
        with entry.hold():
            return await self._predict_decoded(entry, inputs, is_gone)

    async def _predict_decoded(
        self,
        entry: ModelEntry,
        inputs: np.ndarray | list[str] | bytes | str,
        is_gone: IsGone | None,
    ) -> Answer:
        info, spec, limits = entry.info, entry.spec, self.limits
        note_model(spec.name, spec.version, 0)
        batch: Batch
        if isinstance(inputs, bytes | str):
            check_kind(spec.name, info, "image")
            from mlserve.inputs.image import decode_encoded  # Pillow only for image models

            batch = await off_loop(decode_encoded, inputs, info, limits)
            return await self._answer(entry, batch, False, "predict_image", is_gone)
        if isinstance(inputs, list):
            check_kind(spec.name, info, "text")
            if leaves_loop(rows=len(inputs)):
                batch = await off_loop(text.checked_texts, inputs, limits, info.max_length)
            else:
                batch = text.checked_texts(inputs, limits, info.max_length)
            return await self._answer(entry, batch, False, "classify", is_gone)
        check_kind(spec.name, info, "tabular")
        width, features = info.n_features, spec.inputs
        if leaves_loop(elements=inputs.size):
            batch = await off_loop(tabular.array_rows, inputs, width, features, limits)
        else:
            batch = tabular.array_rows(inputs, width, features, limits)
        return await self._answer(entry, batch, False, "predict_batch", is_gone)

    async def _answer(
        self,
        entry: ModelEntry,
        batch: Batch,
        single: bool,
        operation: Operation,
        is_gone: IsGone | None,
    ) -> Answer:
        """The model's answer to a validated batch; the server's access line (one per request)
        records the model, version, rows and latency noted here."""
        name, version = entry.spec.name, entry.spec.version
        note_model(name, version, len(batch))
        result = await self._submit(entry, batch, is_gone)
        check_finite(entry, result)
        routing = self._registry.routing(name)
        if routing is not None and routing.shadow is not None:
            shadow = routing.shadow
            if routing.version_of(shadow.version) != version:
                self._shadows.offer(name, shadow, batch, result)
        texts = batch if operation == "classify" and isinstance(batch, list) else None
        return Answer(entry, result, single, texts)

    def _decode(
        self, operation: Operation, payload: Any, entry: ModelEntry, info: RuntimeInfo
    ) -> tuple[Batch, bool]:
        spec, limits = entry.spec, self.limits
        if operation == "predict":
            return tabular.single_row(payload, info.n_features, spec.inputs, limits), True
        if operation == "predict_batch":
            return tabular.batch_rows(payload, info.n_features, spec.inputs, limits), False
        if operation == "classify":
            return text.texts(payload, limits, info.max_length)
        from mlserve.inputs.image import decode  # Pillow only for image models

        return decode(payload, info, limits), True

    async def _submit(
        self, entry: ModelEntry, batch: Batch, is_gone: IsGone | None
    ) -> BatchPrediction:
        timeout = self.manifest.server.request_timeout_s
        try:
            return await self._batcher(entry).submit(batch, is_gone, timeout)
        except MlserveError:
            raise
        except TimeoutError:
            raise InferenceTimeout(
                f"model {entry.spec.key} did not answer within {timeout:g}s"
            ) from None
        except Exception as exc:
            request_id = current_request_id()
            log.error(
                "inference failed: model=%s request_id=%s", entry.spec.key, request_id, exc_info=exc
            )
            raise InferenceFailed(
                f"model {entry.spec.key} failed on this input ({type(exc).__name__}); "
                f"the server log has the details under request id {request_id}",
                request_id=request_id,
            ) from None

    async def _shadow_call(self, name: str, version: str, batch: Batch) -> BatchPrediction:
        entry = self._registry.resolve(name, version)
        with entry.hold():
            await self._registry.ensure_ready(entry)
            return await self._submit(entry, batch, None)

    def _batcher(self, entry: ModelEntry) -> AdaptiveBatcher:
        batcher = self._batchers.get(entry)
        if batcher is None:
            assert entry.runtime is not None
            runtime_predict = entry.runtime.predict

            def predict(batch: Batch) -> BatchPrediction:
                result = runtime_predict(batch)
                # Checked once per model call, with the call; each request's share is checked
                # again only where this whole answer is not finite.
                result.finite = all_finite(result)
                return result

            # A model set to run several calls at once keeps its threads: on the loop they
            # would run back to back, each between the loop and its probes.
            concurrency = _concurrency(entry)
            on_loop = self._registry.budget.cpus == 1 and concurrency == 1

            def model_call(rows: int, seconds: float) -> None:
                self.observers.tell("model_call", entry.spec, rows, seconds)

            def queue_depth(depth: int) -> None:
                self.observers.tell("queue_depth", entry.spec, depth)

            batcher = AdaptiveBatcher(
                ModelCalls(predict, self._executor, loop_allowed=on_loop),
                name=entry.spec.key,
                max_batch_size=entry.spec.batching.max_batch_size,
                max_wait_ms=entry.spec.batching.max_wait_ms,
                max_concurrency=concurrency,
                queue_limit=self.manifest.server.queue_limit,
                on_batch=model_call,
                on_depth=queue_depth,
            )
            self._batchers[entry] = batcher
        return batcher

    def info(self, name: str | None = None) -> dict[str, Any]:
        """Every model version (or every version of `name`): runtime, status, input schema,
        labels, framework, device."""
        entries = self._registry.entries()
        if name is not None:
            self._registry.resolve(name)  # 404 for an unknown name
            entries = [e for e in entries if e.spec.name == name]
        budget = self._registry.budget
        return {
            "default_model": self._registry.default_model,
            "cpu_budget": {
                "cpus": budget.cpus,
                "source": budget.source,
                "native_threads": self._registry.native_threads,
            },
            "models": [describe_entry(e) for e in entries],
            "routing": {
                model: self._describe_routing(model)
                for model in sorted({e.spec.name for e in entries})
                if self._registry.routing(model) is not None
            },
        }

    def _describe_routing(self, name: str) -> dict[str, Any]:
        routing = self._registry.routing(name)
        assert routing is not None
        out: dict[str, Any] = {"aliases": routing.aliases, "traffic": routing.traffic}
        if routing.shadow is not None:
            stats = self._shadows.stats.get(name)
            measured = stats.describe() if stats is not None else {}
            out["shadow"] = {**routing.shadow.model_dump(), **measured}
        return out

    def readiness(self, *, full: bool = True) -> dict[str, Any]:
        """Whether every startup model is loaded, and each version's state; `full=False`
        hides folders and digests from failure reasons (for callers without a key)."""
        return {"ready": self._registry.ready, "models": self._registry.states(full=full)}


def _concurrency(entry: ModelEntry) -> int:
    if entry.spec.max_concurrency is not None:
        return entry.spec.max_concurrency
    return 1 if entry.spec.batching.max_batch_size > 1 else 4


def _rows_in(payload: Any) -> int:
    rows = payload.get("inputs") if isinstance(payload, dict) else None
    return len(rows) if isinstance(rows, list) else 0
