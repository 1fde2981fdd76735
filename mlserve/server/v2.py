"""Open Inference Protocol (KServe V2) REST: an adapter over the inference core.

Inputs: tabular models take one numeric tensor of shape [rows, features] (or [features]), or,
for models with named `inputs`, one tensor per feature named after it; text models one BYTES
tensor of texts; image models one BYTES tensor holding one encoded image.
Outputs: classifiers give `label` (BYTES), `confidence` (FP64) and `probabilities` (FP64,
[rows, labels], columns in the order of the model's labels); regressors give `prediction`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from mlserve._version import __version__
from mlserve.errors import InputError, MlserveError, SchemaViolation
from mlserve.inference import Operation
from mlserve.registry import ModelEntry
from mlserve.runtimes.base import BatchPrediction, RuntimeInfo
from mlserve.schemas import V2_ERROR_RESPONSES
from mlserve.server.body import read_bytes
from mlserve.server.responses import FastJSONResponse
from mlserve.server.routes import core_of
from mlserve.server.v2codec import HEADER, Tensor, decode_inputs, output_tensor, parse_request

PLATFORMS = {"sklearn": "sklearn", "torch": "pytorch", "transformers": "huggingface"}
Handler = Callable[..., Awaitable[Response]]


def v2_errors(handler: Handler) -> Handler:
    """Errors in the V2 shape: {"error": message}, with mlserve's status codes."""

    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return await handler(*args, **kwargs)
        except MlserveError as exc:
            return FastJSONResponse({"error": exc.message}, status_code=exc.http_status)

    return wrapper


async def ready_entry(request: Request, name: str, version: str | None) -> ModelEntry:
    core = core_of(request)
    entry = core.registry.resolve(name, version)
    await core.registry.ensure_ready(entry)
    return entry


def metadata(entry: ModelEntry, versions: list[str]) -> dict[str, Any]:
    info = entry.info
    return {
        "name": entry.spec.name,
        "versions": versions,
        "platform": PLATFORMS.get(entry.spec.runtime, entry.spec.runtime),
        "inputs": input_metadata(entry, info),
        "outputs": output_metadata(info),
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
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
        {"name": "confidence", "datatype": "FP64", "shape": [-1]},
        {
            "name": "probabilities",
            "datatype": "FP64",
            "shape": [-1, len(info.labels or [])],
            "labels": info.labels,
        },
    ]


def to_operation(entry: ModelEntry, tensors: dict[str, Tensor]) -> tuple[Operation, Any]:
    """The mlserve operation and payload that a set of V2 input tensors means."""
    info = entry.info
    values = list(tensors.values())
    if info.input_kind in ("text", "image"):
        if len(values) != 1 or not isinstance(values[0], list):
            raise SchemaViolation(f"model {entry.spec.name!r} takes one BYTES input tensor")
        items = values[0]
        if info.input_kind == "text":
            texts = [i.decode("utf-8", "replace") if isinstance(i, bytes) else i for i in items]
            return "classify", {"texts": texts}
        if len(items) != 1:
            raise InputError("send one image per request (a BYTES tensor of shape [1])")
        image = items[0]
        return "predict_image", (
            {"image_bytes": image} if isinstance(image, bytes) else {"image_base64": image}
        )
    if any(isinstance(v, list) for v in values):
        raise SchemaViolation(f"model {entry.spec.name!r} takes numeric tensors, not BYTES")
    arrays = [np.asarray(v) for v in values]
    features = entry.spec.inputs
    if features and len(arrays) > 1:  # one tensor per named feature
        missing = [f.name for f in features if f.name not in tensors]
        if missing:
            raise SchemaViolation(f"missing input tensor {missing[0]!r}")
        columns = [np.asarray(tensors[f.name]).reshape(-1) for f in features]
        if len({len(c) for c in columns}) != 1:
            raise InputError("every feature tensor needs the same number of rows")
        return "predict_batch", {"inputs": np.column_stack(columns)}
    if len(arrays) != 1:
        raise SchemaViolation(f"model {entry.spec.name!r} takes one input tensor")
    matrix = arrays[0][None, :] if arrays[0].ndim == 1 else arrays[0]
    if matrix.ndim != 2:
        raise InputError(f"expected a tensor of shape [rows, features], got {list(matrix.shape)}")
    return "predict_batch", {"inputs": matrix}


def to_outputs(info: RuntimeInfo, result: BatchPrediction) -> dict[str, Tensor]:
    if info.task == "regression":
        return {"prediction": np.asarray(result.predictions, dtype=np.float64)}
    outputs: dict[str, Tensor] = {"label": [str(p) for p in result.predictions]}
    if result.probabilities is not None:
        outputs["confidence"] = result.probabilities.max(axis=1)
        outputs["probabilities"] = result.probabilities
    else:
        outputs["confidence"] = np.ones(len(result), dtype=np.float64)
    return outputs


def infer_response(
    entry: ModelEntry, request: dict[str, Any], outputs: dict[str, Tensor]
) -> Response:
    """JSON outputs, or the binary extension for the outputs the client asked it for."""
    wanted = request.get("outputs")
    all_binary = bool((request.get("parameters") or {}).get("binary_data_output"))
    binary_names = {name for name in outputs if all_binary}
    if isinstance(wanted, list):
        names = {o.get("name") for o in wanted if isinstance(o, dict)}
        unknown = sorted(str(n) for n in names - set(outputs))
        if unknown:
            raise InputError(f"unknown output {unknown[0]!r}; outputs: {', '.join(outputs)}")
        outputs = {k: v for k, v in outputs.items() if k in names}
        binary_names |= {
            o["name"]
            for o in wanted
            if isinstance(o, dict) and (o.get("parameters") or {}).get("binary_data")
        }
    tensors, blobs = [], []
    for name, values in outputs.items():
        tensor, raw = output_tensor(name, values)
        if name in binary_names:
            tensor.pop("data")
            tensor["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        tensors.append(tensor)
    body = {"model_name": entry.spec.name, "model_version": entry.spec.version, "outputs": tensors}
    if "id" in request:
        body["id"] = request["id"]
    if not blobs:
        return FastJSONResponse(body)
    header = orjson.dumps(body)
    return Response(
        header + b"".join(blobs),
        media_type="application/octet-stream",
        headers={HEADER: str(len(header))},
    )


def v2_router() -> APIRouter:
    router = APIRouter(prefix="/v2", tags=["open inference protocol (v2)"])

    @router.get("", summary="server metadata")
    async def server_metadata() -> Response:
        return FastJSONResponse(
            {"name": "mlserve", "version": __version__, "extensions": ["binary_tensor_data"]}
        )

    @router.get("/health/live", summary="liveness")
    async def live() -> Response:
        return FastJSONResponse({"live": True})

    @router.get("/health/ready", summary="readiness: every startup model is loaded")
    async def ready(request: Request) -> Response:
        is_ready = core_of(request).registry.ready
        return FastJSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)

    @v2_errors
    async def model_metadata(request: Request, name: str, version: str | None = None) -> Response:
        entry = await ready_entry(request, name, version)
        registry = core_of(request).registry
        versions = [e.spec.version for e in registry.entries() if e.spec.name == name]
        return FastJSONResponse(metadata(entry, versions))

    @v2_errors
    async def model_ready(request: Request, name: str, version: str | None = None) -> Response:
        entry = core_of(request).registry.resolve(name, version)
        is_ready = entry.status == "ready"
        return FastJSONResponse(
            {"name": name, "ready": is_ready}, status_code=200 if is_ready else 503
        )

    @v2_errors
    async def infer(request: Request, name: str, version: str | None = None) -> Response:
        core = core_of(request)
        raw = await read_bytes(request, core.limits.max_body_bytes)
        body, binary = parse_request(raw, request.headers.get(HEADER))
        entry = await ready_entry(request, name, version)
        operation, payload = to_operation(entry, decode_inputs(body, binary))
        answer = await core.predict(
            operation, payload, name, entry.spec.version, request.is_disconnected
        )
        return infer_response(entry, body, to_outputs(entry.info, answer.result))

    for prefix in ("/models/{name}", "/models/{name}/versions/{version}"):
        for suffix, handler, method, summary in (
            ("", model_metadata, "GET", "model metadata"),
            ("/ready", model_ready, "GET", "model readiness"),
            ("/infer", infer, "POST", "inference"),
        ):
            router.add_api_route(
                prefix + suffix,
                handler,
                methods=[method],
                summary=summary,
                responses=V2_ERROR_RESPONSES,
            )
    return router
