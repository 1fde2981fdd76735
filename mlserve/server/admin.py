"""An operator's routes: the model-repository extension of the Open Inference Protocol (as
Triton and MLServer serve it) and a manifest reload.

They load only what the manifest names: a request that carries model files or a config is
refused, since accepting uploaded files would be remote code execution through pickle.
They need the admin key (`server.admin_key_env`); with none configured they answer only on a
loopback bind, and are off (404) on any other.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mlserve import wire
from mlserve.errors import Forbidden, InputError, SchemaViolation, Unauthorized
from mlserve.protocols.openapi import (
    IndexRequest,
    LoadRequest,
    ReloadReport,
    RepositoryEntry,
    admin_docs,
    json_body,
)
from mlserve.protocols.v2.mapping import repository_version
from mlserve.server import errors
from mlserve.server.auth import has_valid_key
from mlserve.server.body import read_bytes
from mlserve.server.errors import RouteError
from mlserve.server.reloading import tell_other_workers
from mlserve.server.responses import FastJSONResponse
from mlserve.server.routes import core_of

log = logging.getLogger("mlserve.server")

ADMIN_PATHS = tuple(route.split("{")[0] for route in wire.ADMIN_ROUTES)


def is_admin_path(path: str) -> bool:
    return path.startswith(ADMIN_PATHS)


# Names a loopback server is reached by. Without an admin key, the admin routes answer only a
# request addressed to one of them: a page whose name was rebound to 127.0.0.1 (DNS
# rebinding) addresses its own name.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def cross_site_reason(scope: Scope, keyless: bool) -> str | None:
    """Why an admin request looks sent by a web page on another site (CSRF), or None.

    Browsers mark every fetch with `Sec-Fetch-Site` and a POST with `Origin`; command-line
    clients send neither. A no-cors form or fetch can send a body only as text/plain or a
    form, never application/json."""
    headers = {k: v for k, v in scope["headers"] if k in _CHECKED}
    site = headers.get(b"sec-fetch-site", b"").lower()
    if site not in (b"", b"same-origin", b"none"):
        return f"a {site.decode('latin-1')} request from a web page"
    host = headers.get(b"host", b"").decode("latin-1").lower()
    origin = headers.get(b"origin")
    if origin is not None:
        origin_host = origin.decode("latin-1").lower().partition("://")[2]
        if origin_host != host:
            return f"a request from the web page at {origin.decode('latin-1')}"
    kind = headers.get(b"content-type", b"application/json").split(b";")[0].strip().lower()
    if kind != b"application/json" and scope["method"] == "POST":
        return f"a body sent as {kind.decode('latin-1')} (send application/json)"
    if keyless and host.rsplit(":", 1)[0] not in LOOPBACK_HOSTS and host not in LOOPBACK_HOSTS:
        return f"a request addressed to {host or 'no host'} (without an admin key, only loopback)"
    return None


_CHECKED = frozenset({b"sec-fetch-site", b"host", b"origin", b"content-type"})


class AdminGuard:
    """The admin routes need one of the admin keys; without any, they exist on a loopback
    bind only (elsewhere they answer 404, as if they did not exist). Cross-site requests
    are refused with 403 either way (cross_site_reason)."""

    def __init__(self, app: ASGIApp, keys: list[bytes], enabled: bool) -> None:
        self.app = app
        self.keys = keys
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_admin_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        if not self.enabled:
            message = f"no route {scope['method']} {scope['path']}; see {wire.DOCS} for the API"
            refusal = errors.render(request, RouteError(404, "not_found", message))
        elif self.keys and not has_valid_key(scope, self.keys):
            message = "missing or wrong admin key; send Authorization: Bearer <key>"
            refusal = errors.render(request, Unauthorized(message), {"WWW-Authenticate": "Bearer"})
        elif (reason := cross_site_reason(scope, keyless=not self.keys)) is not None:
            log.warning("refused an admin request: %s", reason)
            message = f"the admin routes refuse {reason}"
            refusal = errors.render(request, Forbidden(message))
        else:
            await self.app(scope, receive, send)
            return
        await refusal(scope, receive, send)


ADMIN_BODY_LIMIT = 64 * 1024  # a few parameters; nothing here takes files


async def _body(request: Request, model: type[BaseModel]) -> Any:
    """The request's options; an empty body (what most clients send) takes the defaults."""
    body = bytes(await read_bytes(request, ADMIN_BODY_LIMIT))
    if not body.strip():
        return model()
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InputError("expected a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SchemaViolation(f"{where}: {first['msg']}") from None


async def repository_index(request: Request) -> Response:
    body: IndexRequest = await _body(request, IndexRequest)
    return FastJSONResponse(core_of(request).repository_index(ready_only=body.ready))


async def load_model(request: Request, name: str) -> Response:
    body: LoadRequest = await _body(request, LoadRequest)
    await core_of(request).load_model(name, repository_version(body.parameters))
    return FastJSONResponse({})


async def unload_model(request: Request, name: str) -> Response:
    body: LoadRequest = await _body(request, LoadRequest)
    await core_of(request).unload_model(name, repository_version(body.parameters))
    return FastJSONResponse({})


async def reload(request: Request) -> Response:
    """Read the manifest file again and apply what changed (in every worker)."""
    report = await request.app.state.reload()
    tell_other_workers()
    return FastJSONResponse(report)


def admin_router() -> APIRouter:
    router = APIRouter(tags=["admin (admin key)"])
    errors = (400, 401, 404, 413, 422)
    for path, handler, summary, body, answer in (
        (
            wire.V2_REPOSITORY_INDEX,
            repository_index,
            "every model version the manifest names, and its state",
            IndexRequest,
            list[RepositoryEntry],
        ),
        (
            wire.V2_REPOSITORY_LOAD,
            load_model,
            "load a version the manifest names (every version of the name without one)",
            LoadRequest,
            dict[str, Any],
        ),
        (
            wire.V2_REPOSITORY_UNLOAD,
            unload_model,
            "finish a version's requests, then free it (every version without one)",
            LoadRequest,
            dict[str, Any],
        ),
        (wire.RELOAD, reload, "read the manifest again and apply what changed", None, ReloadReport),
    ):
        router.add_api_route(
            path,
            handler,
            methods=["POST"],
            summary=summary,
            operation_id=handler.__name__,
            response_class=FastJSONResponse,
            openapi_extra=json_body(body, required=False) if body else None,
            responses={
                200: {"model": answer},
                **admin_docs(path.startswith(wire.V2 + "/"), *errors),
            },
        )
    return router
