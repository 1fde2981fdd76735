"""The prediction routes (and V2 inference) served without FastAPI's routing stack.

FastAPI and Starlette's router, dependency solving, request and response objects cost a one-row
prediction about as much as mlserve's own work. This pure ASGI layer answers `POST` on the
prediction routes itself: the JSON operations straight from the ASGI messages (the same body reader,
inference core, encoder and error renderer as the routed endpoints), image uploads and V2 inference
through their endpoint functions. Every other request, and every other method on those paths, goes
on to FastAPI, which still documents the routes (the OpenAPI document is unchanged). It sits inside
the request-id, API-key and CORS layers, so those apply as before; it answers an unexpected failure
itself (500, logged), since FastAPI's server-error layer is behind it.
"""

from __future__ import annotations

import functools
from collections.abc import Coroutine
from typing import Any, NamedTuple

import anyio
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlserve import wire
from mlserve.engine.core import InferenceCore
from mlserve.errors import MlserveError
from mlserve.inputs import KIND_OF_OPERATION
from mlserve.server import errors
from mlserve.server.body import receive_json
from mlserve.server.responses import answer_json
from mlserve.wire import Operation

# Each operation's route suffix, longest first: a batch route is not taken for a single row.
SUFFIXES = sorted([*wire.OPERATION_ROUTES.values(), wire.V2_INFER], key=len, reverse=True)
# The operations answered from the ASGI messages (an image route also takes multipart uploads).
JSON_OPERATIONS: dict[str, Operation] = {
    wire.OPERATION_ROUTES[op]: op for op in ("predict", "predict_batch", "classify")
}
JSON_TYPE = (b"content-type", b"application/json")
VERSION_HEADER = wire.MODEL_VERSION_HEADER.lower().encode()


class Match(NamedTuple):
    route: APIRoute
    params: dict[str, str]
    operation: Operation | None  # None: answered by the route's endpoint


class PredictionFastPath:
    def __init__(self, app: ASGIApp, routes: list[APIRoute]) -> None:
        self.app = app
        # suffix -> the routes ending with it, in FastAPI's order (first match wins there too)
        self.by_suffix: dict[str, list[APIRoute]] = {s: [] for s in SUFFIXES}
        for route in routes:
            suffix = next(s for s in SUFFIXES if route.path.endswith(s))
            self.by_suffix[suffix].append(route)

    def match(self, path: str) -> Match | None:
        for suffix in SUFFIXES:
            if path.endswith(suffix):
                for route in self.by_suffix[suffix]:
                    found = route.path_regex.match(path)
                    if found:
                        return Match(route, found.groupdict(), JSON_OPERATIONS.get(suffix))
                return None
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = None
        if scope["type"] == "http" and scope["method"] == "POST":
            matched = self.match(scope["path"])
        if matched is None:
            await self.app(scope, receive, send)
            return
        route, params, operation = matched
        scope["route"], scope["path_params"] = route, params
        try:
            if operation is not None:
                await answer(scope, receive, send, operation, params)
                return
            response = await route.endpoint(Request(scope, receive, send), **params)
        except MlserveError as exc:
            response = errors.render(Request(scope, receive, send), exc)
        except Exception as exc:  # FastAPI's server-error layer is behind this one, not in front
            response = await errors.unexpected_error(Request(scope, receive, send), exc)
        await response(scope, receive, send)


async def answer(
    scope: Scope, receive: Receive, send: Send, operation: Operation, params: dict[str, str]
) -> None:
    """A JSON operation, from the ASGI messages to the ASGI messages."""
    core: InferenceCore = scope["app"].state.core
    # An unknown model or version is a 404 before a byte of the body is read.
    core.model(params.get("name"), params.get("version"), KIND_OF_OPERATION[operation])
    payload = await receive_json(scope, receive, core.limits.max_body_bytes)
    is_gone = functools.partial(client_left, receive)
    result = await core.predict(
        operation, payload, params.get("name"), params.get("version"), is_gone
    )
    body = await answer_json(result)
    headers = [
        JSON_TYPE,
        (b"content-length", str(len(body)).encode()),
        (VERSION_HEADER, result.entry.spec.version.encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def client_left(receive: Receive) -> bool:
    """Whether the client has left: `receive` run up to its first wait, not waited for.

    Starlette's `is_disconnected` awaits it under a cancelled anyio scope instead: a task
    switch and a scope per request for an answer that is almost always "no"."""
    step = receive()
    if not isinstance(step, Coroutine):  # an ASGI server's own awaitable: look the slow way
        message: Message = {}
        with anyio.CancelScope() as cancelled:
            cancelled.cancel()
            message = await step
        return message.get("type") == "http.disconnect"
    try:
        step.send(None)
    except StopIteration as answered:  # it had something to say: a disconnect, or a message
        return bool(answered.value.get("type") == "http.disconnect")
    step.close()  # it would have waited: nothing has happened (its wait is undone)
    return False


def prediction_routes(routes: list[Any]) -> list[APIRoute]:
    """The app's prediction routes (those whose path ends with an operation's suffix, V2
    inference included)."""
    return [
        r
        for r in routes
        if isinstance(r, APIRoute)
        and "POST" in (r.methods or ())
        and r.path.endswith(tuple(SUFFIXES))
    ]
