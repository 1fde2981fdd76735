"""The prediction routes (and V2 inference) served without FastAPI's routing stack.

Profiled under load (py-spy, LogisticRegression, 64 connections, one row per request), FastAPI
and Starlette's router, dependency solving and exception-middleware layers took about twice
the time of mlserve's own endpoint. This pure ASGI layer answers `POST` on the prediction
routes itself, with the very same endpoint functions and error renderer; every other request,
and every other method on those paths, goes on to FastAPI, which still documents the routes
(the OpenAPI document is unchanged). It sits inside the request-id, API-key and CORS layers,
so those apply as before; it answers an unexpected failure itself (500, logged), since
FastAPI's server-error layer is behind it.
"""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mlserve import wire
from mlserve.errors import MlserveError
from mlserve.server import errors

# Each operation's route suffix, longest first: a batch route is not taken for a single row.
SUFFIXES = sorted([*wire.OPERATION_ROUTES.values(), wire.V2_INFER], key=len, reverse=True)


class PredictionFastPath:
    def __init__(self, app: ASGIApp, routes: list[APIRoute]) -> None:
        self.app = app
        # suffix -> the routes ending with it, in FastAPI's order (first match wins there too)
        self.by_suffix: dict[str, list[APIRoute]] = {s: [] for s in SUFFIXES}
        for route in routes:
            suffix = next(s for s in SUFFIXES if route.path.endswith(s))
            self.by_suffix[suffix].append(route)

    def match(self, path: str) -> tuple[APIRoute, dict[str, Any]] | None:
        for suffix in SUFFIXES:
            if path.endswith(suffix):
                for route in self.by_suffix[suffix]:
                    found = route.path_regex.match(path)
                    if found:
                        return route, found.groupdict()
                return None
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = None
        if scope["type"] == "http" and scope["method"] == "POST":
            matched = self.match(scope["path"])
        if matched is None:
            await self.app(scope, receive, send)
            return
        route, params = matched
        scope["route"], scope["path_params"] = route, params
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request, **params)
        except MlserveError as exc:
            response = errors.render(request, exc)
        except Exception as exc:  # FastAPI's server-error layer is behind this one, not in front
            response = await errors.unexpected_error(request, exc)
        await response(scope, receive, send)


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
