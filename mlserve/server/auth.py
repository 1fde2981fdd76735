"""API keys: every route but the probes and the docs needs `Authorization: Bearer KEY` or
`X-API-Key: KEY`. Keys are compared in constant time, and a refusal never hints at a key."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from mlserve import wire
from mlserve.config.access import key_matches

_REFUSAL = orjson.dumps(
    {
        "error": "unauthorized",
        "message": "missing or wrong API key; send Authorization: Bearer <key> or X-API-Key: <key>",
    }
)


# The open routes only read: a POST under /docs-assets/ needs a key like any other (it
# matched the legacy /{version}/predict/batch route, and its body was read before the 404).
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _is_open(scope: Scope) -> bool:
    path: str = scope["path"]
    return scope["method"] in _SAFE_METHODS and (
        path in wire.OPEN_ROUTES or path.startswith(wire.OPEN_PREFIXES)
    )


def has_valid_key(scope: Scope, keys: list[bytes]) -> bool:
    """Whether the request carries one of `keys` (compared in constant time)."""
    given = b""
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            given = value[7:].strip()
        elif name == wire.API_KEY_HEADER.encode():
            given = value.strip()
    return key_matches(given, keys)


class ApiKeyGuard:
    def __init__(
        self, app: ASGIApp, keys: list[bytes], skip: Callable[[str], bool] = lambda path: False
    ) -> None:
        """`skip`: paths another guard checks (the admin routes, when an admin key is set)."""
        self.app = app
        self.keys = keys
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or _is_open(scope)
            or self.skip(scope["path"])
            or has_valid_key(scope, self.keys)
        ):
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(_REFUSAL)),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _REFUSAL})
