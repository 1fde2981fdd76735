"""Open Inference Protocol (KServe V2) REST routes: thin handlers over the engine and the
protocol's own half (mlserve.protocols.v2: the codec, and the mapping to and from the
engine's inputs and answers). Errors are `{"error": message}` with mlserve's status codes
(the one renderer in errors.py).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from mlserve import wire
from mlserve._version import __version__
from mlserve.engine.placement import leaves_loop, off_loop
from mlserve.engine.registry import ModelEntry
from mlserve.protocols.openapi import v2_docs
from mlserve.protocols.v2.codec import (
    HEADER,
    OutputTensor,
    V2Request,
    costly_to_parse,
    parse_request,
)
from mlserve.protocols.v2.mapping import (
    metadata,
    model_inputs,
    model_list,
    response_parts,
    to_outputs,
)
from mlserve.server.body import read_bytes
from mlserve.server.responses import FastJSONResponse
from mlserve.server.routes import core_of


def infer_response(
    entry: ModelEntry, request: V2Request, outputs: dict[str, OutputTensor]
) -> Response:
    """JSON outputs, or the binary extension for the outputs the client asked it for."""
    body, blobs = response_parts(entry, request, outputs)
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


async def models(request: Request) -> Response:
    return FastJSONResponse(model_list(core_of(request).entries()))


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
    for path, probe in ((wire.V2_LIVE, live), (wire.V2_READY, ready)):  # HEAD: as /health
        router.add_api_route(path, probe, methods=["HEAD"], include_in_schema=False)
    router.add_api_route(
        wire.V2_MODELS,
        models,
        methods=["GET"],
        summary="every model: name, versions, platform",
        operation_id="v2_models",
    )
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
