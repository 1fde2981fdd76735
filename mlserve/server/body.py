"""Read a request body within the size limit and parse it with orjson."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.types import Message, Receive, Scope

from mlserve.bodies import WHOLE_BODY_SCOPE_KEY, Body, aligned_buffer, header
from mlserve.engine.placement import leaves_loop, off_loop
from mlserve.errors import ClientGone, InputError, LimitExceeded, UnsupportedMediaType

JSON_HINT = "send Content-Type: application/json (curl: -H 'Content-Type: application/json')"


async def receive_bytes(scope: Scope, receive: Receive, limit: int, align_at: int = 0) -> Body:
    """The whole body, refused past `limit`. A body that comes in one message (every
    single-row request) is used as it is; a longer one with a declared Content-Length is read
    into one buffer of that size (no growing and no final copy: a 10,000-row binary tensor is
    1.6 MB), placed so that byte `align_at` of the body sits at a 64-byte boundary: numeric
    tensors that start there are used in place, with no aligned copy."""
    declared = header(scope, b"content-length") or ""
    if declared.isdigit() and int(declared) > limit:
        raise LimitExceeded(f"request body is {declared} bytes; the limit is {limit}")
    scope[WHOLE_BODY_SCOPE_KEY] = align_at  # a memoryview of the whole body is welcome here
    message = await receive()
    first = _chunk(message, limit)
    if not message.get("more_body", False):
        return first
    expected = max(int(declared) if declared.isdigit() else 0, len(first))
    body, filled = aligned_buffer(expected, align_at), len(first)
    body[:filled] = first
    while True:
        message = await receive()
        chunk = _chunk(message, limit)
        end = filled + len(chunk)
        if end > limit:
            raise LimitExceeded(f"request body is over the limit of {limit} bytes")
        if end > len(body):  # more than its Content-Length said (or none was given)
            body = _grown(body, end)
        body[filled:end] = chunk
        filled = end
        if not message.get("more_body", False):
            break
    return body[:filled]


def _grown(body: memoryview, needed: int) -> memoryview:
    bigger = np.empty(max(needed, 2 * len(body)), dtype=np.uint8).data
    bigger[: len(body)] = body
    return bigger


def _chunk(message: Message, limit: int) -> bytes:
    if message["type"] == "http.disconnect":  # gone, or closed by the body timeout
        raise ClientGone("the client left before sending the whole body")
    chunk: bytes = message.get("body", b"")
    if len(chunk) > limit:
        raise LimitExceeded(f"request body is over the limit of {limit} bytes")
    return chunk


async def receive_json(scope: Scope, receive: Receive, limit: int) -> Any:
    content_type = header(scope, b"content-type") or "application/json"
    content_type = content_type.split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(f"unsupported content type {content_type!r}; {JSON_HINT}")
    body = await receive_bytes(scope, receive, limit)
    try:
        if leaves_loop(body_bytes=len(body)):
            return await off_loop(orjson.loads, body)
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if not bytes(body).strip():
            raise InputError("empty request body; send a JSON object (see /docs)") from None
        raise InputError(f"malformed JSON: {exc}") from None


async def read_bytes(request: Request, limit: int, align_at: int = 0) -> Body:
    return await receive_bytes(request.scope, request.receive, limit, align_at)


async def read_json(request: Request, limit: int) -> Any:
    return await receive_json(request.scope, request.receive, limit)
