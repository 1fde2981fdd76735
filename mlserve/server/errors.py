"""Exceptions -> JSON error bodies. No stack trace ever leaves the server."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from mlserve.context import current_request_id
from mlserve.errors import MlserveError, Overloaded
from mlserve.server.responses import FastJSONResponse

log = logging.getLogger("mlserve.server")


async def mlserve_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MlserveError)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Overloaded) else None
    if exc.http_status == 503 and headers is None:
        headers = {"Retry-After": "5"}
    return FastJSONResponse(exc.to_body(), status_code=exc.http_status, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = str(exc.detail)
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}; see /docs for the API"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return FastJSONResponse(
        {"error": code, "message": message},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return FastJSONResponse(
        {"error": "schema_violation", "message": f"{where}: {first.get('msg', 'invalid request')}"},
        status_code=422,
    )


async def unexpected_error(request: Request, exc: Exception) -> Response:
    request_id = current_request_id()
    log.error("unhandled error, request_id=%s", request_id, exc_info=exc)
    return FastJSONResponse(
        {
            "error": "internal_error",
            "request_id": request_id,
            "message": f"internal error; the server log has the details under "
            f"request id {request_id}",
        },
        status_code=500,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(MlserveError, mlserve_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
