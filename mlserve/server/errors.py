"""The one error renderer: every failure, on every protocol, becomes a JSON error body with
the status code and `Retry-After` of its MlserveError. No stack trace ever leaves the server.

The classic routes answer `{"error": code, "message": text, ...}`; the Open Inference
Protocol routes (under /v2) answer `{"error": text}`, the shape V2 clients parse.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from mlserve import wire
from mlserve.engine.context import current_request_id
from mlserve.errors import InternalError, MlserveError, SchemaViolation
from mlserve.server.responses import FastJSONResponse

log = logging.getLogger("mlserve.server")


class RouteError(MlserveError):
    """A refusal by the HTTP layer itself (no such route, method not allowed)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.route_code = status, code


def render(request: Request, exc: MlserveError, headers: dict[str, str] | None = None) -> Response:
    status = exc.status if isinstance(exc, RouteError) else exc.http_status
    if exc.retry_after is not None:
        headers = {**(headers or {}), "Retry-After": str(exc.retry_after)}
    if is_v2(request):
        return FastJSONResponse({"error": exc.message}, status_code=status, headers=headers)
    body = exc.to_body()
    if isinstance(exc, RouteError):
        body["error"] = exc.route_code
    return FastJSONResponse(body, status_code=status, headers=headers)


def is_v2(request: Request) -> bool:
    """Whether the request went to a V2 route (by the route's template: `/v2/predict` is the
    classic `/{version}/predict` of version v2), or to no route under /v2."""
    route = request.scope.get("route")
    path: str = getattr(route, "path", None) or request.scope.get("path", "")
    return path == wire.V2 or path.startswith(wire.V2 + "/")


async def mlserve_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MlserveError)
    return render(request, exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = str(exc.detail)
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}; see {wire.DOCS} for the API"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    error = RouteError(exc.status_code, code, message)
    return render(request, error, getattr(exc, "headers", None))


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return render(request, SchemaViolation(f"{where}: {first.get('msg', 'invalid request')}"))


async def unexpected_error(request: Request, exc: Exception) -> Response:
    request_id = current_request_id()
    log.error("unhandled error, request_id=%s", request_id, exc_info=exc)
    message = f"internal error; the server log has the details under request id {request_id}"
    return render(request, InternalError(message, request_id=request_id))


def install(app: FastAPI) -> None:
    app.add_exception_handler(MlserveError, mlserve_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
