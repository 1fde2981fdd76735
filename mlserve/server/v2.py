"""Open Inference Protocol (KServe V2) REST: an adapter over the inference core.

Inputs: tabular models take one numeric tensor `input` of shape [rows, features] (or
[features]), or, for models with named `inputs`, one tensor per feature named after it; text
models one BYTES tensor `text`; image models one BYTES tensor `image` holding one encoded
image. Outputs: classifiers give `label` (BYTES), `confidence` (FP64) and `probabilities`
(FP64, [rows, labels], columns in the order of the model's labels); regressors `prediction`.
Errors are `{"error": message}` with mlserve's status codes (the one renderer in errors.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from mlserve import runtimes, wire
from mlserve._version import __version__
from mlserve.engine.placement import leaves_loop, off_loop
from mlserve.engine.registry import ModelEntry
from mlserve.errors import InputError, SchemaViolation
from mlserve.protocols.openapi import v2_docs
from mlserve.protocols.v2.codec import (
    HEADER,
    Labels,
    OutputTensor,
    Tensor,
    V2Request,
    costly_to_parse,
    output_tensor,
    parse_request,
)
from mlserve.runtimes._base import BatchPrediction, ChosenLabels, RuntimeInfo
from mlserve.server.body import read_bytes
from mlserve.server.responses import FastJSONResponse
from mlserve.server.routes import core_of


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


def infer_response(
    entry: ModelEntry, request: V2Request, outputs: dict[str, OutputTensor]
) -> Response:
    """JSON outputs, or the binary extension for the outputs the client asked it for."""
    if request.outputs is not None:
        unknown = [o.name for o in request.outputs if o.name not in outputs]
        if unknown:
            raise InputError(f"unknown output {unknown[0]!r}; outputs: {', '.join(outputs)}")
        wanted = {o.name for o in request.outputs}
        outputs = {k: v for k, v in outputs.items() if k in wanted}
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
    version = {wire.MODEL_VERSION_HEADER: entry.spec.version}
    if not blobs:
        return FastJSONResponse(body, headers=version)
    header = orjson.dumps(body)
    return Response(
        b"".join([header, *blobs]),
        media_type="application/octet-stream",
        headers={HEADER: str(len(header)), **version},
    )


async def server_metadata() -> Response:
    return FastJSONResponse(
        {"name": "mlserve", "version": __version__, "extensions": ["binary_tensor_data"]}
    )


async def live() -> Response:
    return FastJSONResponse({"live": True})


async def ready(request: Request) -> Response:
    is_ready = core_of(request).ready
    return FastJSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


async def model_metadata(request: Request, name: str, version: str | None = None) -> Response:
    core = core_of(request)
    entry = await core.ready_model(name, version)
    return FastJSONResponse(metadata(entry, core.versions(name)))


async def model_ready(request: Request, name: str, version: str | None = None) -> Response:
    """200 when loaded; 400 otherwise, as Triton answers (tritonclient reads the status)."""
    entry = core_of(request).model(name, version)
    is_ready = entry.status == "ready"
    return FastJSONResponse({"name": name, "ready": is_ready}, status_code=200 if is_ready else 400)


async def infer(request: Request, name: str, version: str | None = None) -> Response:
    core = core_of(request)
    core.model(name, version)  # an unknown model is a 404 whatever the body holds
    header = request.headers.get(HEADER)
    # Binary tensors start right after the JSON part: read the body so that they are aligned.
    json_length = int(header) if header is not None and header.isdigit() else 0
    raw = await read_bytes(request, core.limits.max_body_bytes, align_at=json_length)
    if costly_to_parse(raw, header):  # keep the event loop free for probes while parsing
        parsed = await off_loop(parse_request, raw, header)
    else:
        parsed = parse_request(raw, header)
    entry = await core.ready_model(name, version)
    inputs = model_inputs(entry, parsed.inputs)
    answer = await core.predict_decoded(entry, inputs, request.is_disconnected)
    outputs = to_outputs(entry.info, answer.result)
    # Binary outputs are array copies; JSON ones build a Python object per value.
    if leaves_loop(rows=len(answer.result)) and not all(map(parsed.wants_binary, outputs)):
        return await off_loop(infer_response, entry, parsed, outputs)
    return infer_response(entry, parsed, outputs)


def v2_router() -> APIRouter:
    router = APIRouter(tags=["open inference protocol (v2)"])
    docs = v2_docs()
    router.add_api_route(wire.V2, server_metadata, methods=["GET"], **docs["server_metadata"])
    # The official spec writes the server metadata route with a trailing slash.
    router.add_api_route(wire.V2 + "/", server_metadata, methods=["GET"], include_in_schema=False)
    router.add_api_route(wire.V2_LIVE, live, methods=["GET"], **docs["live"])
    router.add_api_route(wire.V2_READY, ready, methods=["GET"], **docs["ready"])
    for prefix, versioned in (
        (wire.V2 + wire.MODEL_PREFIX, False),
        (wire.V2 + wire.MODEL_VERSION_PREFIX, True),
    ):
        for suffix, handler, method, key in (
            ("", model_metadata, "GET", "model_metadata"),
            (wire.READY, model_ready, "GET", "model_ready"),
            (wire.V2_INFER, infer, "POST", "infer"),
        ):
            route_docs = docs[key]
            operation_id = f"v2_{key}" + ("_version" if versioned else "")
            router.add_api_route(
                prefix + suffix,
                _path_params(handler, versioned),
                methods=[method],
                operation_id=operation_id,
                **route_docs,
            )
    return router


def _path_params(handler: Any, versioned: bool) -> Any:
    """The handler with exactly the path parameters of its route (no stray `version`
    query parameter on the unversioned routes)."""
    if versioned:
        return handler

    async def unversioned(request: Request, name: str) -> Response:
        response: Response = await handler(request, name)
        return response

    unversioned.__name__ = handler.__name__
    unversioned.__doc__ = handler.__doc__
    return unversioned
