"""The request bodies a server process holds at once, bounded (one budget per app)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mlserve.bodies import header
from mlserve.errors import Overloaded
from mlserve.server import errors


class BodyBudget:
    """ASGI layer: the bytes of request bodies this process holds at once, by their declared
    Content-Length, from the request's start to its end (an answer's arrays often keep the
    body's buffers alive until then). Past `budget_bytes` a request is answered 503 with
    Retry-After before any of its body is read: 2,048 connections each sending a body at the
    32 MiB limit would otherwise be 64 GiB. A chunked body declares nothing and is bounded by
    the per-request limit alone.

    Invariant: `held` is the sum of the declared lengths of the requests inside this layer."""

    def __init__(self, app: ASGIApp, budget_bytes: int) -> None:
        self.app = app
        self.budget = budget_bytes
        self.held = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = header(scope, b"content-length") if scope["type"] == "http" else None
        size = int(declared) if declared is not None and declared.isdigit() else 0
        if size == 0:
            await self.app(scope, receive, send)
            return
        if self.held + size > self.budget:
            message = (
                f"the server is reading {self.held} bytes of request bodies; one more of "
                f"{size} would pass its limit of {self.budget} (limits.max_bodies_in_flight_bytes)"
            )
            refusal = errors.render(Request(scope, receive, send), Overloaded(message))
            await refusal(scope, receive, send)
            return
        self.held += size
        try:
            await self.app(scope, receive, send)
        finally:
            self.held -= size
