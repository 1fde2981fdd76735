"""Read a request body within the size limit and parse it with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from mlserve.errors import ClientGone, InputError, LimitExceeded, UnsupportedMediaType
from mlserve.offload import off_loop

# Bodies at least this big are parsed in a worker thread, so the event loop keeps answering
# probes while a 100,000-row batch is parsed.
OFF_LOOP_BYTES = 256 * 1024
JSON_HINT = "send Content-Type: application/json (curl: -H 'Content-Type: application/json')"


async def read_bytes(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise LimitExceeded(f"request body is {declared} bytes; the limit is {limit}")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise LimitExceeded(f"request body is over the limit of {limit} bytes")
    except ClientDisconnect:  # gone, or closed by the server's body timeout
        raise ClientGone("the client left before sending the whole body") from None
    return bytes(body)


async def read_json(request: Request, limit: int) -> Any:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(f"unsupported content type {content_type!r}; {JSON_HINT}")
    body = await read_bytes(request, limit)
    if not body.strip():
        raise InputError("empty request body; send a JSON object (see /docs)")
    try:
        if len(body) >= OFF_LOOP_BYTES:
            return await off_loop(orjson.loads, body)
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc}") from None
