"""The protocol-neutral half of the Open Inference Protocol (KServe V2): model metadata,
tensors to the engine's inputs, and the engine's answers to output tensors. REST
(mlserve.server.v2) and any other front that speaks V2 call these; nothing here knows HTTP.

Inputs: tabular models take one numeric tensor `input` of shape [rows, features] (or
[features]), or, for models with named `inputs`, one tensor per feature named after it; text
models one BYTES tensor `text`; image models one BYTES tensor `image` holding one encoded
image. Outputs: classifiers give `label` (BYTES), `confidence` (FP64) and `probabilities`
(FP64, [rows, labels], columns in the order of the model's labels); regressors `prediction`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlserve import runtimes
from mlserve.engine.registry import ModelEntry
from mlserve.errors import InputError, SchemaViolation
from mlserve.protocols.v2.codec import Labels, OutputTensor, Tensor, V2Request, output_tensor
from mlserve.runtimes._base import BatchPrediction, ChosenLabels, RuntimeInfo


def metadata(entry: ModelEntry, versions: list[str]) -> dict[str, Any]:
    info = entry.info
    return {
        "name": entry.spec.name,
        "versions": versions,
        "platform": runtimes.platform(entry.spec.runtime),
        "inputs": input_metadata(entry, info),
        "outputs": output_metadata(info),
        "properties": {
            "runtime": entry.spec.runtime,
            "framework": info.framework,
            "framework_version": info.framework_version,
            "engine": info.engine or info.framework,
        },
    }


def model_list(entries: list[ModelEntry]) -> dict[str, Any]:
    """Every model's name, versions (in the manifest's order) and platform."""
    models: dict[str, dict[str, Any]] = {}
    for entry in entries:
        spec = entry.spec
        listed = models.setdefault(
            spec.name,
            {"name": spec.name, "versions": [], "platform": runtimes.platform(spec.runtime)},
        )
        listed["versions"].append(spec.version)
    return {"models": list(models.values())}


def input_metadata(entry: ModelEntry, info: RuntimeInfo) -> list[dict[str, Any]]:
    if info.input_kind == "text" or info.input_kind == "image":
        return [{"name": info.input_kind, "datatype": "BYTES", "shape": [-1]}]
    if entry.spec.inputs:
        return [
            {"name": f.name, "datatype": "INT64" if f.type == "int" else "FP64", "shape": [-1]}
            for f in entry.spec.inputs
        ]
    return [{"name": "input", "datatype": "FP64", "shape": [-1, info.n_features or -1]}]


def output_metadata(info: RuntimeInfo) -> list[dict[str, Any]]:
    if info.task == "regression":
        return [{"name": "prediction", "datatype": "FP64", "shape": [-1]}]
    return [
        {
            "name": "label",
            "datatype": "BYTES",
            "shape": [-1],
            "labels": info.labels,
            # Each label as /predict/batch answers it (1, not "1"): what `mlserve batch`
            # writes when it reads V2 answers.
            "label_values": info.label_values,
        },
        {"name": "confidence", "datatype": "FP64", "shape": [-1]},
        {
            "name": "probabilities",
            "datatype": "FP64",
            "shape": [-1, len(info.labels or [])],
            "labels": info.labels,
        },
    ]


def model_inputs(
    entry: ModelEntry, tensors: dict[str, Tensor]
) -> np.ndarray | list[str] | bytes | str:
    """The inputs the core takes, from tensors whose names the model's metadata lists."""
    info = entry.info
    names = [m["name"] for m in input_metadata(entry, info)]
    unknown = [n for n in tensors if n not in names]
    if unknown:
        raise InputError(
            f"unknown input tensor {unknown[0]!r}; model {entry.spec.name!r} takes "
            f"{', '.join(names)}"
        )
    missing = [n for n in names if n not in tensors]
    if missing:
        raise InputError(f"missing input tensor {missing[0]!r}")
    if info.input_kind in ("text", "image"):
        return _bytes_input(info.input_kind, tensors[info.input_kind])
    if any(isinstance(t, list) for t in tensors.values()):
        raise SchemaViolation(f"model {entry.spec.name!r} takes numeric tensors, not BYTES")
    if len(names) > 1:  # one tensor per named feature
        columns = [np.asarray(tensors[n]).reshape(-1) for n in names]
        if len({len(c) for c in columns}) != 1:
            raise InputError("every feature tensor needs the same number of rows")
        return np.column_stack(columns)
    matrix = np.asarray(tensors[names[0]])
    matrix = matrix[None, :] if matrix.ndim == 1 else matrix
    if matrix.ndim != 2:
        raise InputError(f"expected a tensor of shape [rows, features], got {list(matrix.shape)}")
    return matrix


def _bytes_input(kind: str, tensor: Tensor) -> list[str] | bytes | str:
    if not isinstance(tensor, list):
        raise SchemaViolation(f"input {kind!r} must be a BYTES tensor")
    if kind == "text":
        try:
            return [t.decode("utf-8") if isinstance(t, bytes) else t for t in tensor]
        except UnicodeDecodeError:
            raise InputError("input 'text': an element is not valid UTF-8") from None
    if len(tensor) != 1:
        raise InputError("send one image per request (a BYTES tensor of shape [1])")
    return tensor[0]  # raw bytes (binary), or base64 text (JSON): the core decodes either


def to_outputs(info: RuntimeInfo, result: BatchPrediction) -> dict[str, OutputTensor]:
    if info.task == "regression":
        return {"prediction": np.asarray(result.predictions, dtype=np.float64)}
    outputs: dict[str, OutputTensor] = {"label": _labels(result)}
    if result.probabilities is not None:
        outputs["confidence"] = result.confidences()
        outputs["probabilities"] = result.probabilities
    else:
        outputs["confidence"] = np.ones(len(result), dtype=np.float64)
    return outputs


def _labels(result: BatchPrediction) -> Labels:
    predictions = result.predictions
    if isinstance(predictions, ChosenLabels) and result.labels is not None:
        # already an index into the model's labels, whose text classify_from_proba wrote
        return Labels(result.labels, predictions.positions)
    return Labels.of(np.asarray(predictions))


def response_parts(
    entry: ModelEntry, request: V2Request, outputs: dict[str, OutputTensor]
) -> tuple[dict[str, Any], list[bytes]]:
    """The response's JSON part and, in order, the raw bytes of the outputs the client asked
    to have in binary (empty when none)."""
    outputs = request.asked_for(outputs)
    tensors, blobs = [], []
    for name, values in outputs.items():
        tensor, raw = output_tensor(name, values, request.wants_binary(name))
        if raw is not None:
            tensor["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        tensors.append(tensor)
    body: dict[str, Any] = {
        "model_name": entry.spec.name,
        "model_version": entry.spec.version,
        "outputs": tensors,
    }
    if request.id is not None:
        body["id"] = request.id
    return body, blobs


def repository_version(parameters: dict[str, Any]) -> str | None:
    """The version a repository load or unload names (None: every version); a request
    that sends a model file or config is refused: only the manifest decides what loads."""
    uploads = [k for k in parameters if k == "config" or k.startswith("file:")]
    if uploads:
        raise InputError(
            f"parameter {uploads[0]!r} refused: this server loads only the models its "
            "manifest names, never files or configs sent in a request"
        )
    version = parameters.get("version")
    if version is not None and not isinstance(version, str | int):
        raise InputError("parameters.version must be a string")
    return None if version is None else str(version)
