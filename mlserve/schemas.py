"""Request and response bodies of the mlserve routes, for the OpenAPI document.

Handlers parse bodies with orjson and validate them in mlserve.inputs (one numpy conversion
instead of thousands of pydantic objects); these models describe the same shapes for /docs,
client generators and schemathesis.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PredictRequest(BaseModel):
    """One row: a list in model order, or (for models with named `inputs`) an object."""

    model_config = ConfigDict(extra="forbid")
    features: list[float] | dict[str, float] = Field(examples=[[5.1, 3.5, 1.4, 0.2]])


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: list[list[float]] | list[dict[str, float]] = Field(
        examples=[[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]]
    )


class ClassifyRequest(BaseModel):
    """Exactly one of `text` or `texts`."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(default=None, examples=["I loved this film"])
    texts: list[str] | None = None


class ImageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_base64: str = Field(description="base64 image bytes, plain or as a data: URL")


class Prediction(BaseModel):
    prediction: Any
    confidence: float | None = None
    probabilities: dict[str, float] | None = None


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


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "wrong shape or bad value",
        401: "API key missing or wrong",
        404: "unknown model or version",
        413: "body or batch too large",
        415: "body is not JSON",
        422: "schema violation",
        500: "inference failure",
        503: "model not loaded or overloaded",
        504: "model timed out",
    }.items()
}


class V2ErrorBody(BaseModel):
    error: str = Field(description="what went wrong (Open Inference Protocol error shape)")


V2_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {**spec, "model": V2ErrorBody} for status, spec in ERROR_RESPONSES.items()
}


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` that documents a JSON body the handler reads itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }
