"""The app factory: one FastAPI app over one inference core."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from mlserve._version import __version__
from mlserve.config.access import Access
from mlserve.config.schema import Manifest, ModelSpec
from mlserve.engine.context import RequestObserver
from mlserve.engine.core import InferenceCore
from mlserve.runtimes._base import Runtime
from mlserve.server import console, docs, errors
from mlserve.server.admin import AdminGuard, admin_router, is_admin_path
from mlserve.server.auth import ApiKeyGuard
from mlserve.server.budget import BodyBudget
from mlserve.server.deprecated import DeprecatedRoutes, legacy_routes
from mlserve.server.fastpath import PredictionFastPath, prediction_routes
from mlserve.server.live import LiveStats
from mlserve.server.metrics import Metrics, metrics_router
from mlserve.server.middleware import RequestContext, RequestRecords
from mlserve.server.reloading import reloading
from mlserve.server.routes import prediction_router, status_router
from mlserve.server.v2 import v2_router

log = logging.getLogger("mlserve.server")
# Another front door on the engine: entered while the app serves, given what records its
# requests (the access line, metrics, console figures).
Front = Callable[[InferenceCore, RequestObserver], AbstractAsyncContextManager[Any]]


class MlserveApp(FastAPI):
    """FastAPI routes and documents every route, but mlserve's own pure ASGI layers (request
    context, CORS, the guards, the prediction fast path) run in front of FastAPI's stack rather
    than inside it: FastAPI's outer layers (server-error, telemetry, body-limit and their
    `send` wrappers) cost a prediction as much as mlserve's own code. A request the fast path
    does not take still goes through all of them."""

    front: ASGIApp | None = None
    fast_path: PredictionFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.front is not None:
            scope["app"] = self  # what Starlette would set: endpoints find the core through it
            await self.front(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def stack(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI's own stack, behind the front layers."""
        await super().__call__(scope, receive, send)


def create_app(
    engine: InferenceCore | Manifest,
    runtime_factory: Callable[[ModelSpec], Runtime] | None = None,
    *,
    echo_request_id: bool = True,
    fast_path: bool = True,
    reload: Callable[[InferenceCore], Awaitable[dict[str, list[str]]]] | None = None,
    fronts: Sequence[Front] = (),
) -> MlserveApp:
    """The HTTP app over `engine`. Whoever serves builds the engine and hands it over, so
    that other fronts (gRPC, Ray) can share it; the app's lifespan serves it (models load in
    the background once the app starts, so `/health` answers at once and `/ready` turns 200
    when every startup model is loaded). Given a manifest, the app builds its own engine
    (with `runtime_factory`). `reload` replaces the engine's own reload (the Ray backend
    also updates its deployments). `fronts` are other front doors on the same engine
    (gRPC): each is entered once the engine serves, with what records its requests as
    HTTP's are. Building an app changes nothing in the interpreter:
    process tuning is `mlserve serve`'s (mlserve.transport.tuning)."""
    core = engine if isinstance(engine, InferenceCore) else InferenceCore(engine, runtime_factory)
    manifest = core.manifest
    access = Access.of(manifest.server)  # refuses to start without the keys it names
    api_keys, admin_keys, admin_on = access.api_keys, access.admin_keys, access.admin_on
    metrics = Metrics()
    live = LiveStats() if manifest.server.console else None
    core.observe(metrics)
    if live is not None:
        core.observe(live)
    records = RequestRecords(metrics, live)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info(
            "serving %d model version(s) from %s; API docs at /docs, metrics at /metrics",
            len(manifest.models),
            manifest.source,
        )
        if not admin_on:
            log.warning(
                "admin routes (repository API, reload) are off: the server listens on %s and "
                "no admin key is set (server.admin_key_env)",
                manifest.server.host,
            )
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(core.serving())
            await stack.enter_async_context(
                reloading(core, app.state.reload, watch=manifest.server.watch)
            )
            for front in fronts:
                await stack.enter_async_context(front(core, records))
            yield

    app = MlserveApp(
        title="mlserve",
        version=__version__,
        description=f"Models from {manifest.source.name}. Errors are JSON: "
        '{"error": code, "message": text} (V2 routes: {"error": text}).',
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.core = core
    app.state.reload = functools.partial(reload, core) if reload else core.reload
    app.state.api_keys = api_keys
    app.include_router(status_router())
    predictions = prediction_router()
    app.include_router(predictions)
    v2 = v2_router()
    app.include_router(v2)
    app.include_router(metrics_router(metrics))
    app.include_router(admin_router())
    errors.install(app)
    docs.install(app, manifest, secured=bool(api_keys))
    if live is not None:
        console.install(app, live)
    layer: ASGIApp = app.stack
    served_fast = prediction_routes([*predictions.routes, *v2.routes])
    if fast_path:  # innermost: keys, CORS, request ids and metrics still apply
        layer = app.fast_path = PredictionFastPath(layer, served_fast)
    layer = DeprecatedRoutes(layer, legacy_routes(served_fast))
    # Inside the key checks: a refused request holds none of the budget.
    layer = BodyBudget(layer, manifest.server.limits.max_bodies_in_flight_bytes)
    if api_keys:
        skip = is_admin_path if admin_keys else (lambda path: False)
        layer = ApiKeyGuard(layer, keys=api_keys, skip=skip)
    layer = AdminGuard(layer, keys=admin_keys, enabled=admin_on)
    cors = manifest.server.cors
    if cors.allow_origins:  # outside the key check: a preflight carries no key
        layer = CORSMiddleware(
            layer,
            allow_origins=cors.allow_origins,
            allow_methods=cors.allow_methods,
            allow_headers=cors.allow_headers,
            expose_headers=cors.expose_headers,
            allow_credentials=cors.allow_credentials,
            max_age=cors.max_age,
        )
    # Outermost: refusals get a request id and a log line.
    app.front = RequestContext(layer, metrics=metrics, live=live, echo_request_id=echo_request_id)
    return app
