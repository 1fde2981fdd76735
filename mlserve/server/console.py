"""The console at `/`: every model version's state, live figures and a try-it form.

The page is plain HTML, CSS and JavaScript shipped in the package (`static/`): no CDN, no
build step, so it works air-gapped. The page itself holds no data and needs no key; it polls
`/console/stats` (which does need one when keys are on) and asks for the key when refused.
Turned off with `server.console: false`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from mlserve import wire
from mlserve._version import __version__
from mlserve.server.live import SLOT_S, SLOTS, LiveStats
from mlserve.server.responses import FastJSONResponse

STATIC = Path(__file__).parent / "static"
# The page loads only what this server serves; inline scripts and styles are refused too.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

PAGE_ROUTES = {
    "assets": wire.CONSOLE_ASSETS,
    "stats": wire.CONSOLE_STATS,
    "docs": wire.DOCS,
    "metrics": wire.METRICS,
}


def install(app: FastAPI, live: LiveStats) -> None:
    page = (STATIC / "console.html").read_text(encoding="utf-8")
    for name, route in PAGE_ROUTES.items():
        page = page.replace("{{" + name + "}}", route)
    app.mount(wire.CONSOLE_ASSETS, StaticFiles(directory=STATIC), name="console-assets")

    async def console() -> HTMLResponse:
        return HTMLResponse(page, headers=PAGE_HEADERS)

    app.add_api_route(wire.CONSOLE, console, methods=["GET", "HEAD"], include_in_schema=False)
    app.include_router(stats_router(live))


def stats_router(live: LiveStats) -> APIRouter:
    router = APIRouter(tags=["status"])

    @router.get(
        wire.CONSOLE_STATS,
        summary="Every model version with its live figures (what the console at / draws)",
    )
    async def stats(request: Request) -> FastJSONResponse:
        return FastJSONResponse(console_stats(request.app.state.core.info(), live))

    return router


def console_stats(info: dict[str, Any], live: LiveStats) -> dict[str, Any]:
    """`/model/info` with each version's live figures, and the routes the page calls (so
    that no route is spelled in the JavaScript)."""
    models = [
        {**model, "live": live.snapshot(model["model"], model["version"])}
        for model in info["models"]
    ]
    return {
        "server": {"version": __version__, "pid": os.getpid()},
        "window_s": SLOT_S * SLOTS,
        "slot_s": SLOT_S,
        "default_model": info["default_model"],
        "routes": {
            "model_version": wire.MODEL_VERSION_PREFIX,
            "operations": wire.OPERATION_ROUTES,
        },
        "models": models,
    }
