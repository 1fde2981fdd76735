"""The mlserve HTTP routes. Each handler is: read body -> inference core -> JSON, nothing more.

Every prediction route exists four times: on the default model of its kind (`/predict`), on
a version of the default model (`/v1/predict`), on a named model (`/models/iris/predict`) and
on a named version (`/models/iris/versions/v1/predict`).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mlserve import wire
from mlserve.engine.core import InferenceCore
from mlserve.inputs import KIND_OF_OPERATION
from mlserve.protocols.openapi import (
    PREDICTION_ERRORS,
    BatchOut,
    BatchRequest,
    Health,
    ModelsInfo,
    PredictionOut,
    PredictRequest,
    Readiness,
    TextRequest,
    TextsRequest,
    errors,
    image_body,
    json_body,
)
from mlserve.server.auth import has_valid_key
from mlserve.server.body import read_json
from mlserve.server.responses import FastJSONResponse, answer_response
from mlserve.wire import Operation

# operation -> (request body docs, response model)
OPERATIONS: dict[Operation, tuple[dict[str, Any], Any]] = {
    "predict": (json_body(PredictRequest), PredictionOut),
    "predict_batch": (json_body(BatchRequest), BatchOut),
    "classify": (json_body(TextRequest, TextsRequest), PredictionOut | BatchOut),
    "predict_image": (image_body(), PredictionOut),
}
# prefix -> (path parameters, operationId suffix)
PREFIXES: dict[str, tuple[list[str], str]] = {
    "": ([], ""),
    wire.VERSION_PREFIX: (["version"], "_version"),
    wire.LEGACY_VERSION_PREFIX: (["version"], "_legacy_version"),
    wire.MODEL_PREFIX: (["name"], "_model"),
    wire.MODEL_VERSION_PREFIX: (["name", "version"], "_model_version"),
}

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
        # An unknown model or version is a 404 before a byte of the body is read.
        core_of(request).model(path.get("name"), path.get("version"), KIND_OF_OPERATION[operation])
        payload = await read_payload(request, operation)
        answer = await core_of(request).predict(
            operation, payload, path.get("name"), path.get("version"), request.is_disconnected
        )
        return await answer_response(answer)

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
    for prefix, (path_params, id_suffix) in PREFIXES.items():
        for operation, (body_docs, response_model) in OPERATIONS.items():
            where = prefix or "the default model of its kind"
            legacy = prefix == wire.LEGACY_VERSION_PREFIX
            if legacy:
                where = f"deprecated: use {wire.VERSION_PREFIX}{wire.OPERATION_ROUTES[operation]}"
            router.add_api_route(
                prefix + wire.OPERATION_ROUTES[operation],
                make_endpoint(operation, path_params),
                methods=["POST"],
                operation_id=operation + id_suffix,
                openapi_extra=body_docs,
                response_class=FastJSONResponse,
                responses={200: {"model": response_model}, **errors(*PREDICTION_ERRORS)},
                summary=f"{operation.replace('_', ' ')} ({where})",
                deprecated=legacy or None,
            )
    return router


async def health() -> Response:
    return FastJSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    """Open to probes without a key, so failure reasons lose their folders and digests
    unless the caller shows a key (or the server has none)."""
    keys: list[bytes] = request.app.state.api_keys
    full = not keys or has_valid_key(request.scope, keys)
    body = core_of(request).readiness(full=full)
    return FastJSONResponse(body, status_code=200 if body["ready"] else 503)


async def model_info(request: Request) -> Response:
    return FastJSONResponse(core_of(request).info())


async def all_models(request: Request) -> Response:
    return FastJSONResponse(core_of(request).info())


async def one_model(request: Request, name: str) -> Response:
    return FastJSONResponse(core_of(request).info(name))


def status_router() -> APIRouter:
    router = APIRouter(tags=["status"])
    for path, handler, summary, responses in (
        (wire.HEALTH, health, "liveness: the process answers", {200: {"model": Health}}),
        (
            wire.READY,
            ready,
            "readiness: every startup model is loaded",
            {200: {"model": Readiness}, 503: {"model": Readiness, "description": "not ready"}},
        ),
        (
            wire.MODEL_INFO,
            model_info,
            "every model version: status, inputs, labels, device",
            {200: {"model": ModelsInfo}},
        ),
        (
            wire.MODELS,
            all_models,
            "every model version, as /model/info",
            {200: {"model": ModelsInfo}},
        ),
        (
            wire.MODEL_PREFIX,
            one_model,
            "one model's versions",
            {200: {"model": ModelsInfo}, **errors(404)},
        ),
    ):
        router.add_api_route(
            path,
            handler,
            methods=["GET"],
            summary=summary,
            operation_id=handler.__name__,
            responses=responses,  # type: ignore[arg-type]
            response_class=FastJSONResponse,
        )
        if path in wire.PROBES:  # load balancers and uptime checkers probe with HEAD
            router.add_api_route(path, handler, methods=["HEAD"], include_in_schema=False)
    return router
