"""Routes kept for one release under an old spelling: answered as before, with a
`Deprecation` header and a `Link` to the route that replaces them (RFC 9745), and one warning
in the server's log.

The one such family today is `/{version}/...` (a version of the default model), replaced by
`/versions/{version}/...`: under the old spelling `/v2/predict` meant the default model's
version "v2", inside the V2 protocol's namespace.
"""

from __future__ import annotations

import logging
import re

from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlserve import wire

log = logging.getLogger("mlserve.server")
DEPRECATION = wire.DEPRECATION_HEADER.lower().encode()
# What replaces a legacy path: the same path under the new prefix (the version stays quoted).
SUCCESSOR_PREFIX = wire.VERSION_PREFIX.removesuffix(wire.LEGACY_VERSION_PREFIX)


def legacy_routes(routes: list[APIRoute]) -> list[re.Pattern[str]]:
    """The path patterns of the app's routes under the legacy prefix."""
    prefix = wire.LEGACY_VERSION_PREFIX + "/"
    return [route.path_regex for route in routes if route.path.startswith(prefix)]


class DeprecatedRoutes:
    """Marks the answers of legacy routes; every other request passes untouched. A legacy
    pattern has one path segment before an operation's suffix, which no other prediction
    route matches, so a path it matches is served by the legacy route."""

    def __init__(self, app: ASGIApp, patterns: list[re.Pattern[str]]) -> None:
        self.app = app
        self.patterns = patterns
        self.warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (scope["type"] == "http" and any(p.match(path) for p in self.patterns)):
            await self.app(scope, receive, send)
            return
        successor = SUCCESSOR_PREFIX + path
        if not self.warned:
            self.warned = True
            log.warning(
                "%s is deprecated (under the old spelling /v2/predict meant the default "
                "model's version v2); use %s: the old spelling goes in the next release",
                path,
                successor,
            )
        added = [
            (DEPRECATION, b"true"),
            (b"link", f'<{successor}>; rel="successor-version"'.encode()),
        ]

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await self.app(scope, receive, send_marked)
