"""The inference core: the only path from a request payload to a model and back.

Both front doors call it: the HTTP routes (mlserve.server) and the in-process client
(mlserve.client.local), so the same model and input give the same JSON either way.

    resolve model + version (registry) -> load if lazy -> validate and decode input (inputs.*)
    -> adaptive batcher (queue, coalesce) -> runtime.predict in a worker thread
    -> one JSON-ready dict per request
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from mlserve.batching import AdaptiveBatcher, IsGone
from mlserve.context import current_request_id, note_model
from mlserve.errors import InferenceFailed, InferenceTimeout, InputError, MlserveError
from mlserve.inputs import tabular, text
from mlserve.manifest import Manifest, ModelSpec
from mlserve.registry import ModelEntry, ModelRegistry
from mlserve.runtimes.base import Batch, BatchPrediction, Runtime, RuntimeInfo

log = logging.getLogger("mlserve.predict")

Operation = Literal["predict", "predict_batch", "classify", "predict_image"]
_ROUTE_FOR_KIND = {
    "tabular": "/predict or /predict/batch",
    "text": "/classify",
    "image": "/predict/image",
}
_KIND_OF_OPERATION = {
    "predict": "tabular",
    "predict_batch": "tabular",
    "classify": "text",
    "predict_image": "image",
}


class CoreObserver(Protocol):
    """Told about every model call and queue change (the server's metrics implement it)."""

    def model_call(self, spec: ModelSpec, rows: int, seconds: float) -> None: ...

    def queue_depth(self, spec: ModelSpec, depth: int) -> None: ...


@dataclass
class Answer:
    """What a model said to one request, before it becomes JSON."""

    entry: ModelEntry
    result: BatchPrediction
    single: bool

    def body(self) -> dict[str, Any]:
        rows = format_rows(self.result)
        head = {"model": self.entry.spec.name, "version": self.entry.spec.version}
        return {**head, **rows[0]} if self.single else {**head, "predictions": rows}


class InferenceCore:
    """Registry, batchers and worker threads for one manifest."""

    def __init__(
        self, manifest: Manifest, runtime_factory: Callable[[ModelSpec], Runtime] | None = None
    ) -> None:
        """`runtime_factory` decides where models run: in this process (the default), or
        behind a proxy such as the Ray Serve backend's."""
        self.manifest = manifest
        self.limits = manifest.server.limits
        self.registry = ModelRegistry(manifest, runtime_factory)
        self._batchers: dict[str, AdaptiveBatcher] = {}
        threads = sum(_concurrency(e) for e in self.registry.entries())
        self._executor = ThreadPoolExecutor(min(64, threads), thread_name_prefix="mlserve-model")
        self.observers: list[CoreObserver] = []  # e.g. the server's Prometheus metrics

    async def start(self) -> None:
        """Load every startup model (failures are recorded, never raised)."""
        await self.registry.load_startup()

    async def close(self) -> None:
        for batcher in self._batchers.values():
            await batcher.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.registry.unload_all()

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
        """The model's answer as arrays (for protocols with tensors, like V2)."""
        started = time.perf_counter()
        entry = self.registry.resolve(model, version)
        name, version = entry.spec.name, entry.spec.version
        note_model(name, version, 0)
        runtime = await self.registry.ensure_ready(entry)
        info = runtime.describe()
        batch, single = self._decode(operation, payload, entry, info)
        note_model(name, version, len(batch))
        result = await self._submit(entry, batch, is_gone)
        if log.isEnabledFor(logging.INFO):
            latency_ms = round((time.perf_counter() - started) * 1000, 2)
            log.info(
                "model=%s version=%s rows=%d latency_ms=%.2f",
                name,
                version,
                len(batch),
                latency_ms,
                extra={
                    "model": name,
                    "version": version,
                    "rows": len(batch),
                    "latency_ms": latency_ms,
                },
            )
        return Answer(entry, result, single)

    def _decode(
        self, operation: Operation, payload: Any, entry: ModelEntry, info: RuntimeInfo
    ) -> tuple[Batch, bool]:
        wanted = _KIND_OF_OPERATION[operation]
        if info.input_kind != wanted:
            raise InputError(
                f"model {entry.spec.name!r} takes {info.input_kind} input; use "
                f"{_ROUTE_FOR_KIND[info.input_kind]}"
            )
        spec, limits = entry.spec, self.limits
        if operation == "predict":
            return tabular.single_row(payload, info.n_features, spec.inputs, limits), True
        if operation == "predict_batch":
            return tabular.batch_rows(payload, info.n_features, spec.inputs, limits), False
        if operation == "classify":
            return text.texts(payload, limits)
        from mlserve.inputs.image import decode  # Pillow only for image models

        return decode(payload, spec, info, limits), True

    async def _submit(
        self, entry: ModelEntry, batch: Batch, is_gone: IsGone | None
    ) -> BatchPrediction:
        timeout = self.manifest.server.request_timeout_s
        try:
            return await asyncio.wait_for(self._batcher(entry).submit(batch, is_gone), timeout)
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

    def _batcher(self, entry: ModelEntry) -> AdaptiveBatcher:
        batcher = self._batchers.get(entry.spec.key)
        if batcher is None:
            assert entry.runtime is not None
            predict = entry.runtime.predict
            loop = asyncio.get_running_loop()

            async def run(batch: Batch) -> BatchPrediction:
                return await loop.run_in_executor(self._executor, predict, batch)

            def model_call(rows: int, seconds: float) -> None:
                for observer in self.observers:
                    observer.model_call(entry.spec, rows, seconds)

            def queue_depth(depth: int) -> None:
                for observer in self.observers:
                    observer.queue_depth(entry.spec, depth)

            batcher = AdaptiveBatcher(
                run,
                name=entry.spec.key,
                max_batch_size=entry.spec.batching.max_batch_size,
                max_wait_ms=entry.spec.batching.max_wait_ms,
                max_concurrency=_concurrency(entry),
                queue_limit=self.manifest.server.queue_limit,
                on_batch=model_call,
                on_depth=queue_depth,
            )
            self._batchers[entry.spec.key] = batcher
        return batcher

    def info(self) -> dict[str, Any]:
        """Every model version: runtime, status, input schema, labels, framework, device."""
        return {
            "default_model": self.registry.default_model,
            "models": [describe_entry(e) for e in self.registry.entries()],
        }

    def readiness(self) -> dict[str, Any]:
        return {"ready": self.registry.ready, "models": self.registry.states()}


def _concurrency(entry: ModelEntry) -> int:
    if entry.spec.max_concurrency is not None:
        return entry.spec.max_concurrency
    return 1 if entry.spec.batching.max_batch_size > 1 else 4


def format_rows(result: BatchPrediction) -> list[dict[str, Any]]:
    """One JSON-ready dict per row: prediction, plus confidence and probabilities if any.

    Vectorised where numpy can do it: this runs once per row of every response."""
    if result.probabilities is None:
        return [{"prediction": p} for p in result.predictions]
    labels = result.labels or []
    confidences = result.probabilities.max(axis=1).tolist()
    return [
        {"prediction": p, "confidence": c, "probabilities": dict(zip(labels, row))}  # noqa: B905
        for p, c, row in zip(  # noqa: B905 - equal lengths by construction
            result.predictions, confidences, result.probabilities.tolist()
        )
    ]


def describe_entry(entry: ModelEntry) -> dict[str, Any]:
    spec = entry.spec
    out: dict[str, Any] = {
        **entry.state(),
        "runtime": spec.runtime,
        "default": entry.is_default,
        "file": spec.path.name,
        "batching": spec.batching.model_dump(),
        "inputs": [f.model_dump(exclude_none=True) for f in spec.inputs] if spec.inputs else None,
    }
    if entry.status == "ready":
        info = entry.info
        out.update(
            framework=info.framework,
            framework_version=info.framework_version,
            task=info.task,
            input_kind=info.input_kind,
            n_features=info.n_features,
            input_shape=list(info.input_shape) if info.input_shape else None,
            labels=info.labels,
            device=info.device,
            notes=info.notes,
        )
        if info.replicas is not None:
            out["replicas"] = info.replicas
    return out
