"""The mlserve HTTP routes. Each handler is: read body -> inference core -> JSON, nothing more.

Every prediction route exists four times: on the default model (`/predict`), on a version of
the default model (`/v1/predict`), on a named model (`/models/iris/predict`) and on a named
version (`/models/iris/versions/v1/predict`).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from mlserve.inference import InferenceCore, Operation
from mlserve.schemas import (
    ERROR_RESPONSES,
    BatchOut,
    BatchRequest,
    ClassifyRequest,
    ImageRequest,
    PredictionOut,
    PredictRequest,
    body_schema,
)
from mlserve.server.body import read_json
from mlserve.server.responses import FastJSONResponse

OPERATIONS: list[tuple[Operation, str, type[BaseModel], Any]] = [
    ("predict", "/predict", PredictRequest, PredictionOut),
    ("predict_batch", "/predict/batch", BatchRequest, BatchOut),
    ("classify", "/classify", ClassifyRequest, PredictionOut | BatchOut),  # text | texts
    ("predict_image", "/predict/image", ImageRequest, PredictionOut),
]
PREFIXES: list[tuple[str, list[str]]] = [
    ("", []),
    ("/{version}", ["version"]),
    ("/models/{name}", ["name"]),
    ("/models/{name}/versions/{version}", ["name", "version"]),
]

Endpoint = Callable[..., Awaitable[Response]]


def core_of(request: Request) -> InferenceCore:
    core: InferenceCore = request.app.state.core
    return core


async def read_payload(request: Request, operation: Operation) -> Any:
    """JSON for every operation; an image route also takes a multipart upload."""
    limits = core_of(request).limits
    if operation == "predict_image" and request.headers.get("content-type", "").startswith(
        "multipart/form-data"
    ):
        from mlserve.server.uploads import read_upload

        return await read_upload(request, limits)
    return await read_json(request, limits.max_body_bytes)


def make_endpoint(operation: Operation, path_params: list[str]) -> Endpoint:
    async def endpoint(request: Request, **path: str) -> Response:
        payload = await read_payload(request, operation)
        body = await core_of(request).run(
            operation, payload, path.get("name"), path.get("version"), request.is_disconnected
        )
        return FastJSONResponse(body)

    params = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)
    ]
    params += [
        inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY, annotation=str) for p in path_params
    ]
    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = f"{operation}_{'_'.join(path_params) or 'default'}"
    return endpoint


def prediction_router() -> APIRouter:
    router = APIRouter(tags=["predict"])
    for prefix, path_params in PREFIXES:
        for operation, suffix, request_model, response_model in OPERATIONS:
            router.add_api_route(
                prefix + suffix,
                make_endpoint(operation, path_params),
                methods=["POST"],
                openapi_extra=body_schema(request_model),
                response_class=FastJSONResponse,
                responses={200: {"model": response_model}, **ERROR_RESPONSES},
                summary=f"{operation.replace('_', ' ')} ({prefix or 'default model'})",
            )
    return router


def status_router() -> APIRouter:
    router = APIRouter(tags=["status"])

    @router.get("/health", summary="liveness: the process answers")
    async def health() -> Response:
        return FastJSONResponse({"status": "ok"})

    @router.get("/ready", summary="readiness: every startup model is loaded")
    async def ready(request: Request) -> Response:
        body = core_of(request).readiness()
        return FastJSONResponse(body, status_code=200 if body["ready"] else 503)

    @router.get("/model/info", summary="every model version: status, inputs, labels, device")
    async def model_info(request: Request) -> Response:
        return FastJSONResponse(core_of(request).info())

    @router.get("/models/{name}", summary="one model's versions", responses=ERROR_RESPONSES)
    async def one_model(request: Request, name: str) -> Response:
        core = core_of(request)
        core.registry.resolve(name)  # 404 for an unknown name
        info = core.info()
        info["models"] = [m for m in info["models"] if m["model"] == name]
        return FastJSONResponse(info)

    return router
