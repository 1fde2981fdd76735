"""What the inference core returns: a model's answer, and model descriptions, as JSON."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlserve.engine.context import current_request_id
from mlserve.engine.registry import ModelEntry
from mlserve.errors import InferenceFailed
from mlserve.runtimes._base import BatchPrediction

log = logging.getLogger("mlserve.predict")


@dataclass
class Answer:
    """What a model said to one request, before it becomes JSON."""

    entry: ModelEntry
    result: BatchPrediction
    single: bool
    texts: list[str] | None = None  # the inputs of a text model, echoed as the seed did

    def body(self) -> dict[str, Any]:
        rows = self.result.json_rows()
        if self.texts is not None:
            rows = [
                {"text": text, "label": row["prediction"], **row}
                for text, row in zip(self.texts, rows, strict=True)
            ]
        head = {"model": self.entry.spec.name, "version": self.entry.spec.version}
        return {**head, **rows[0]} if self.single else {**head, "predictions": rows}


def describe_entry(entry: ModelEntry) -> dict[str, Any]:
    spec = entry.spec
    out: dict[str, Any] = {
        **entry.state(),
        "runtime": spec.runtime,
        "default": entry.is_default,
        "input_kind": entry.input_kind,
        "file": spec.path.name,
        "batching": spec.batching.model_dump(),
        "inputs": [f.model_dump(exclude_none=True) for f in spec.inputs] if spec.inputs else None,
        "example": spec.example,
    }
    if entry.status == "ready":
        info = entry.info
        out.update(
            framework=info.framework,
            framework_version=info.framework_version,
            engine=info.engine or info.framework,
            threads=info.threads,
            task=info.task,
            n_features=info.n_features,
            input_shape=list(info.input_shape) if info.input_shape else None,
            labels=info.labels,
            device=info.device,
            notes=info.notes,
        )
        if info.replicas is not None:
            out["replicas"] = info.replicas
        if info.replica_details is not None:
            out["replica_details"] = info.replica_details
    return out


def all_finite(result: BatchPrediction) -> bool:
    numbers: Any = result.probabilities
    if numbers is None:
        numbers = [p for p in result.predictions if isinstance(p, float)]
    return bool(np.isfinite(np.asarray(numbers, dtype=np.float64)).all())


def check_finite(entry: ModelEntry, result: BatchPrediction) -> None:
    """A model that overflowed (finite input, NaN or infinite output) has no answer: say so
    rather than answer 200 with nulls and an arbitrary label."""
    if result.finite or all_finite(result):
        return
    request_id = current_request_id()
    log.error("non-finite model output: model=%s request_id=%s", entry.spec.key, request_id)
    raise InferenceFailed(
        f"model {entry.spec.key} produced NaN or infinite output for this input (its values "
        "overflow inside the model); no answer was given",
        request_id=request_id,
    )
