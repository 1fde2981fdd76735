"""Request and response bodies of the mlserve routes and of V2, for the OpenAPI document.

Handlers parse bodies with orjson and validate them in mlserve.inputs and the V2 codec (one
numpy conversion instead of thousands of pydantic objects); these models describe the same
shapes for /docs, client generators and schemathesis. mlserve.server.openapi adds what only
the manifest knows: model names, and each named-input model's fields with their bounds.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Number = float


class PredictRequest(BaseModel):
    """One row: a list in model order, or (for models with named `inputs`) an object. Models
    with named inputs also take the fields at the top level (see the model's own schema)."""

    model_config = ConfigDict(extra="forbid")
    features: list[Number] | dict[str, Number] = Field(examples=[[5.1, 3.5, 1.4, 0.2]])


class BatchRequest(BaseModel):
    """Rows as lists in model order (optionally with `columns`, a CSV header that names them)
    or, for models with named inputs, as objects."""

    model_config = ConfigDict(extra="forbid")
    inputs: list[list[Number]] | list[dict[str, Number]] = Field(
        examples=[[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]]
    )
    columns: list[str] | None = Field(
        default=None, description="names of the row values, in their order (named models)"
    )


class TextRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(examples=["I loved this film"])


class TextsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(examples=[["I loved this film", "a dull, tedious mess"]])


class ImageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_base64: str = Field(description="base64 image bytes, plain or as a data: URL")


class ImageUpload(BaseModel):
    file: bytes = Field(json_schema_extra={"format": "binary"}, description="the image file")


class Prediction(BaseModel):
    prediction: Any
    confidence: float | None = None
    probabilities: dict[str, float] | None = None
    text: str | None = Field(default=None, description="text models: the input text")
    label: Any = Field(default=None, description="text models: the same as prediction")


class PredictionOut(Prediction):
    model: str
    version: str


class BatchOut(BaseModel):
    model: str
    version: str
    predictions: list[Prediction]


class ErrorBody(BaseModel):
    error: str = Field(description="machine-readable error code, e.g. invalid_input")
    message: str = Field(description="what went wrong and what was expected")
    request_id: str | None = None


class Health(BaseModel):
    status: str


class ModelState(BaseModel):
    model: str
    version: str
    status: str = Field(description="not_loaded | loading | ready | failed")
    load: str
    reason: str | None
    load_seconds: float | None


class Readiness(BaseModel):
    ready: bool
    models: list[ModelState]


class ModelsInfo(BaseModel):
    default_model: str
    cpu_budget: dict[str, Any] | None = None
    models: list[dict[str, Any]]


ERROR_TEXT = {
    400: "wrong shape or bad value",
    401: "API key missing or wrong",
    404: "unknown model or version",
    413: "body or batch too large",
    415: "body is not JSON (or an image upload)",
    422: "schema violation",
    500: "inference failure (the body names the request id)",
    503: "model not loaded, failed to load, or overloaded (with Retry-After when a retry helps)",
    504: "model timed out",
}
PREDICTION_ERRORS = (400, 404, 413, 415, 422, 500, 503, 504)


def errors(*statuses: int, model: type[BaseModel] = ErrorBody) -> dict[int | str, Any]:
    """The documented error responses of one route."""
    return {s: {"model": model, "description": ERROR_TEXT[s]} for s in statuses}


def json_body(*schemas: type[BaseModel], required: bool = True) -> dict[str, Any]:
    """`openapi_extra` that documents a JSON body the handler reads itself."""
    inlined = [inline_refs(s.model_json_schema()) for s in schemas]
    schema = inlined[0] if len(inlined) == 1 else {"anyOf": inlined}
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": required, "content": content}}


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its `$defs` written in place: an OpenAPI document cannot resolve a
    pydantic `#/$defs/...` reference inside a request body."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(dict(defs[ref.removeprefix("#/$defs/")]))
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


def image_body() -> dict[str, Any]:
    extra = json_body(ImageRequest)
    extra["requestBody"]["content"]["multipart/form-data"] = {
        "schema": ImageUpload.model_json_schema()
    }
    return extra


# -- Open Inference Protocol (V2) ----------------------------------------------------------


class V2ErrorBody(BaseModel):
    error: str = Field(description="what went wrong (Open Inference Protocol error shape)")


class V2Parameters(BaseModel):
    model_config = ConfigDict(extra="allow")
    binary_data_output: bool | None = None
    binary_data: bool | None = None
    binary_data_size: int | None = Field(default=None, ge=0)


TensorData = list[Any]


class V2RequestInput(BaseModel):
    name: str
    shape: list[int] = Field(description="non-negative dimensions")
    datatype: str = Field(
        examples=["FP32"], description="BOOL, UINT8..64, INT8..64, FP16/32/64, BYTES"
    )
    parameters: V2Parameters | None = None
    data: TensorData | None = Field(default=None, description="row-major; absent when binary")


class V2RequestOutput(BaseModel):
    name: str
    parameters: V2Parameters | None = None


class V2InferenceRequest(BaseModel):
    id: str | None = None
    parameters: V2Parameters | None = None
    inputs: list[V2RequestInput]
    outputs: list[V2RequestOutput] | None = None


class V2ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: TensorData | None = None


class V2InferenceResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[V2ResponseOutput]


class V2MetadataTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    labels: list[str] | None = None
    label_values: list[Any] | None = None


class V2ModelMetadata(BaseModel):
    name: str
    versions: list[str] | None = None
    platform: str
    inputs: list[V2MetadataTensor] | None = None
    outputs: list[V2MetadataTensor] | None = None


class V2ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class V2Live(BaseModel):
    live: bool


class V2Ready(BaseModel):
    ready: bool


class V2ModelReady(BaseModel):
    name: str
    ready: bool


def v2_docs() -> dict[str, dict[str, Any]]:
    """Summary, responses and request body of each V2 route."""

    def v2_errors(*statuses: int) -> dict[int | str, Any]:
        return errors(*statuses, model=V2ErrorBody)

    binary = {
        "application/octet-stream": {
            "schema": {"type": "string", "format": "binary"},
        }
    }
    return {
        "server_metadata": {
            "summary": "server metadata",
            "operation_id": "v2_server_metadata",
            "responses": {200: {"model": V2ServerMetadata}},
        },
        "live": {
            "summary": "liveness",
            "operation_id": "v2_live",
            "responses": {200: {"model": V2Live}},
        },
        "ready": {
            "summary": "readiness: every startup model is loaded",
            "operation_id": "v2_ready",
            "responses": {
                200: {"model": V2Ready},
                503: {"model": V2Ready, "description": "not ready"},
            },
        },
        "model_metadata": {
            "summary": "model metadata",
            "responses": {200: {"model": V2ModelMetadata}, **v2_errors(404, 503)},
        },
        "model_ready": {
            "summary": "model readiness",
            "responses": {
                200: {"model": V2ModelReady},
                400: {"model": V2ModelReady, "description": "not loaded"},
                **v2_errors(404),
            },
        },
        "infer": {
            "summary": "inference (JSON, or binary tensors after the JSON header)",
            "openapi_extra": json_body(V2InferenceRequest),
            "responses": {
                200: {"model": V2InferenceResponse, "content": binary},
                **v2_errors(*PREDICTION_ERRORS),
            },
        },
    }


# -- an operator's routes (admin key) ---------------------------------------------------------


class IndexRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    ready: bool = Field(False, description="list only the versions that are ready")


class LoadRequest(BaseModel):
    """`parameters.version` picks one version (else every version of the name); files and
    configs are refused."""

    model_config = ConfigDict(extra="allow")
    parameters: dict[str, Any] = {}


class RepositoryEntry(BaseModel):
    name: str
    version: str
    state: str = Field(description="READY | LOADING | UNAVAILABLE")
    reason: str = Field(description="why it is not ready, or why a reload kept older files")


class ReloadReport(BaseModel):
    loaded: list[str] = Field(description="versions added or replaced (name:version)")
    kept: list[str] = Field(description="changed versions that failed to load: the old serve")
    failed: list[str] = Field(description="new versions that failed to load")
    removed: list[str] = Field(description="versions gone from the manifest")
    reasons: list[str] = Field(
        default=[], description="why each kept or failed version did not load (name:version: why)"
    )


ADMIN_ERROR_TEXT = {
    400: "a load failed, a reload's manifest is broken, or files were sent",
    401: "admin key missing or wrong",
    404: "unknown model or version, or admin routes off (public bind without an admin key)",
    413: "body too large",
    422: "schema violation",
}


def admin_docs(v2: bool, *statuses: int) -> dict[int | str, Any]:
    """An admin route's error responses (the V2 error shape under /v2)."""
    model = V2ErrorBody if v2 else ErrorBody
    return {s: {"model": model, "description": ADMIN_ERROR_TEXT[s]} for s in statuses}
