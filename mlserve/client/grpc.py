"""The CLI's front door over gRPC (`--url grpc://host:8081`): the same operations as over
HTTP, sent as Open Inference Protocol calls, with answers read back into the very dicts the
JSON routes give (labels as the JSON routes answer them, probabilities keyed by label).

What a model takes and what its answer's columns are comes from its `ModelConfig`, read once
per version (the gRPC metadata message has no field for labels; mlserve's config carries
them as parameters). Over gRPC a command names its model: there is no "default model" call.
Imported only for a grpc:// URL, so other commands never load grpc.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import grpc
import numpy as np
import orjson

from mlserve.client import payloads
from mlserve.client.base import split_model
from mlserve.errors import (
    InferenceTimeout,
    InputError,
    LimitExceeded,
    MlserveError,
    ModelNotFound,
    ModelNotReady,
    ServerTimeout,
    ServerUnreachable,
    Unauthorized,
    UsageError,
)
from mlserve.protocols.grpc._generated import grpc_service_pb2 as pb
from mlserve.protocols.grpc._generated import grpc_service_pb2_grpc as pb_grpc

SCHEME = "grpc://"
ERRORS: dict[grpc.StatusCode, type[MlserveError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InputError,
    grpc.StatusCode.NOT_FOUND: ModelNotFound,
    grpc.StatusCode.UNAUTHENTICATED: Unauthorized,
    grpc.StatusCode.RESOURCE_EXHAUSTED: LimitExceeded,
    grpc.StatusCode.UNAVAILABLE: ModelNotReady,
}
RAW_DTYPES = {"FP64": "<f8", "FP32": "<f4", "INT64": "<i8", "INT32": "<i4"}


class Model:
    """A version as its config describes it: its inputs, kind and labels."""

    def __init__(self, config: Any) -> None:
        parameters = {k: v.string_value for k, v in config.parameters.items()}
        self.kind = parameters.get("input_kind", "tabular")
        self.inputs = [(t.name, pb_datatype(t.data_type)) for t in config.input]
        self.labels: list[str] | None = orjson.loads(parameters.get("labels", "null"))
        values = orjson.loads(parameters.get("label_values", "null"))
        self.values = dict(zip(self.labels, values, strict=True)) if self.labels else None


def pb_datatype(data_type: int) -> str:
    from mlserve.protocols.grpc._generated import model_config_pb2 as config_pb

    name: str = config_pb.DataType.Name(data_type).removeprefix("TYPE_")
    return "BYTES" if name == "STRING" else name


class GrpcClient:
    """The CLI's Frontdoor over gRPC."""

    def __init__(
        self, url: str, *, api_key: str | None = None, timeout: float = 60.0, retries: int = 5
    ) -> None:
        self.address = url.removeprefix(SCHEME).rstrip("/")
        if not self.address:
            raise UsageError(f"--url {url!r}: give the server as grpc://host:port")
        self.channel = grpc.insecure_channel(
            self.address, options=[("grpc.max_receive_message_length", -1)]
        )
        self.stub = pb_grpc.GRPCInferenceServiceStub(self.channel)  # type: ignore[no-untyped-call]
        self.metadata = (("authorization", f"Bearer {api_key}"),) if api_key else ()
        self.timeout, self.retries = timeout, retries
        self.retried = 0
        self._models: dict[tuple[str, str], Model] = {}

    def __enter__(self) -> GrpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the named methods of mlserve.Client -----------------------------------------------

    def predict(self, features: Any, *, model: str, version: str | None = None) -> dict[str, Any]:
        """One row: a list or 1-D array in model order, or a mapping of named features."""
        return self.run("predict", payloads.row(features), model, version)

    def predict_batch(self, rows: Any, *, model: str, version: str | None = None) -> dict[str, Any]:
        """Rows: lists, a 2-D numpy array, or a pandas DataFrame (columns matched by name)."""
        return self.run("predict_batch", payloads.rows(rows), model, version)

    def classify(
        self, text: str | list[str], *, model: str, version: str | None = None
    ) -> dict[str, Any]:
        """One text (an answer) or a list of texts (answers under `predictions`)."""
        return self.run("classify", payloads.texts(text), model, version)

    def predict_image(
        self, image: Any, *, model: str, version: str | None = None
    ) -> dict[str, Any]:
        """An image as bytes or a path to an image file."""
        return self.run("predict_image", payloads.image(image), model, version)

    # -- the Frontdoor -------------------------------------------------------------------

    def run(
        self,
        operation: str,
        payload: Any,
        model: str | None = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        name, version = self._named(model, version)
        described = self._model(name, version)
        tensors, texts = self._tensors(operation, payload, described)
        answer = self._infer(name, version, tensors)
        rows = self._rows(answer, described)
        if texts is not None:
            rows = [
                {"text": t, "label": r["prediction"], **r} for t, r in zip(texts, rows, strict=True)
            ]
        head = {"model": answer.model_name, "version": answer.model_version}
        single = operation in ("predict", "predict_image") or (
            operation == "classify" and "text" in payload
        )
        return {**head, **rows[0]} if single else {**head, "predictions": rows}

    def predict_array(
        self,
        rows: Any,
        *,
        columns: list[str] | None = None,
        model: str | None = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"inputs": np.asarray(rows, dtype=np.float64)}
        if columns is not None:
            payload["columns"] = columns
        return self.run("predict_batch", payload, model, version)

    def info(self) -> dict[str, Any]:
        """Every version the server names (the repository index), as `/model/info` lists
        them: name, version, status, reason."""
        index = self._call(self.stub.RepositoryIndex, pb.RepositoryIndexRequest())
        states = {"READY": "ready", "UNAVAILABLE": "not_loaded", "LOADING": "loading"}
        models = [
            {
                "model": m.name,
                "version": m.version,
                "status": states.get(m.state, m.state.lower()),
                "reason": m.reason or None,
            }
            for m in index.models
        ]
        return {"default_model": None, "models": models, "routing": {}}

    def input_kind(self, model: str | None = None) -> str:
        name, version = self._named(model, None)
        kind: str = self._model(name, version).kind
        return kind

    def close(self) -> None:
        self.channel.close()

    # -- requests --------------------------------------------------------------------------

    def _named(self, model: str | None, version: str | None) -> tuple[str, str]:
        name, version = split_model(model, version)
        if not name:
            raise UsageError("over gRPC, name the model: --model NAME (or NAME:VERSION)")
        return name, version or ""

    def _model(self, name: str, version: str) -> Model:
        key = (name, version)
        if key not in self._models:
            request = pb.ModelConfigRequest(name=name, version=version)
            self._models[key] = Model(self._call(self.stub.ModelConfig, request).config)
        return self._models[key]

    def _tensors(
        self, operation: str, payload: Any, model: Model
    ) -> tuple[list[tuple[str, str, list[int], bytes]], list[str] | None]:
        """(name, datatype, shape, raw bytes) per input; the texts, for a text answer."""
        if operation == "classify":
            texts = [payload["text"]] if "text" in payload else list(payload.get("texts") or [])
            return [("text", "BYTES", [len(texts)], _framed([t.encode() for t in texts]))], texts
        if operation == "predict_image":
            image = base64.b64decode(payload["image_base64"].split(",")[-1])
            return [("image", "BYTES", [1], _framed([image]))], None
        # predict: {"features": row}, or the named features themselves; a batch: "inputs"
        rows = [payload.get("features", payload)] if operation == "predict" else payload["inputs"]
        return self._numeric(rows, payload.get("columns"), model), None

    def _numeric(
        self, rows: Any, columns: list[str] | None, model: Model
    ) -> list[tuple[str, str, list[int], bytes]]:
        names = [n for n, _ in model.inputs]
        if names == ["input"]:
            matrix = np.asarray(rows, dtype=np.float64)
            matrix = matrix[None, :] if matrix.ndim == 1 else matrix
            return [("input", "FP64", list(matrix.shape), matrix.astype("<f8").tobytes())]
        if isinstance(rows, np.ndarray) or (rows and not isinstance(rows[0], dict)):
            order = columns or names
            dicts = [dict(zip(order, row, strict=False)) for row in np.asarray(rows).tolist()]
        else:
            dicts = list(rows)
        tensors = []
        for name, datatype in model.inputs:
            column = [row.get(name) for row in dicts]
            if any(v is None for v in column):
                raise InputError(f"missing feature {name!r}; model takes {', '.join(names)}")
            try:
                values = np.asarray(column, dtype=RAW_DTYPES.get(datatype, "<f8"))
            except (TypeError, ValueError):
                raise InputError(f"feature {name!r} must be a number") from None
            tensors.append((name, datatype, [len(values)], values.tobytes()))
        return tensors

    def _infer(
        self, name: str, version: str, tensors: list[tuple[str, str, list[int], bytes]]
    ) -> Any:
        request = pb.ModelInferRequest(model_name=name, model_version=version)
        for tensor_name, datatype, shape, raw in tensors:
            request.inputs.add(name=tensor_name, datatype=datatype, shape=shape)
            request.raw_input_contents.append(raw)
        return self._call(self.stub.ModelInfer, request)

    def _rows(self, answer: Any, model: Model) -> list[dict[str, Any]]:
        outputs = {
            o.name: (o, raw)
            for o, raw in zip(answer.outputs, answer.raw_output_contents, strict=True)
        }
        if "prediction" in outputs:
            return [{"prediction": float(v)} for v in _array(*outputs["prediction"])]
        labels = _texts(outputs["label"][1])
        confidence = _array(*outputs["confidence"]).tolist()
        probabilities = _array(*outputs["probabilities"]) if "probabilities" in outputs else None
        keys = model.labels or []
        rows = []
        for i, label in enumerate(labels):
            value = model.values.get(label, label) if model.values else label
            row: dict[str, Any] = {"prediction": value, "confidence": confidence[i]}
            if probabilities is not None:
                row["probabilities"] = dict(zip(keys, probabilities[i].tolist(), strict=True))
            rows.append(row)
        return rows

    def _call(self, method: Any, request: Any) -> Any:
        """One RPC, tried again on UNAVAILABLE (backoff), errors as mlserve's."""
        for attempt in range(self.retries + 1):
            try:
                return method(request, timeout=self.timeout, metadata=self.metadata)
            except grpc.RpcError as exc:
                error = _error(exc, self.address)
                if (
                    not isinstance(error, ModelNotReady | ServerUnreachable)
                    or attempt == self.retries
                ):
                    raise error from None
                self.retried += 1
                time.sleep(min(0.25 * 2**attempt, 5.0))
        raise AssertionError("unreachable")


def _error(exc: Any, address: str) -> MlserveError:
    code, details = exc.code(), exc.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE and ("connect" in details.lower() or not details):
        return ServerUnreachable(
            f"cannot reach the mlserve gRPC server at {address} ({details}); start it with "
            "`mlserve serve models.yaml`, or check --url"
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        if "deadline" in details.lower():
            return ServerTimeout(f"no answer from {address} within --timeout")
        return InferenceTimeout(details)
    return ERRORS.get(code, MlserveError)(details or str(code))


def _framed(items: list[bytes]) -> bytes:
    return b"".join(len(i).to_bytes(4, "little") + i for i in items)


def _texts(raw: bytes) -> list[str]:
    out, offset = [], 0
    while offset < len(raw):
        length = int.from_bytes(raw[offset : offset + 4], "little")
        out.append(raw[offset + 4 : offset + 4 + length].decode())
        offset += 4 + length
    return out


def _array(output: Any, raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype=RAW_DTYPES[output.datatype]).reshape(list(output.shape))
