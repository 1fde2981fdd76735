"""API keys: every route but the probes and the docs needs `Authorization: Bearer KEY` or
`X-API-Key: KEY`. Keys are compared in constant time, and a refusal never hints at a key."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from mlserve import wire
from mlserve.errors import ManifestError

_REFUSAL = orjson.dumps(
    {
        "error": "unauthorized",
        "message": "missing or wrong API key; send Authorization: Bearer <key> or X-API-Key: <key>",
    }
)


def keys_from_env(variable: str | None) -> list[str]:
    """The keys in $variable, comma-separated so that an old and a new key can overlap."""
    if variable is None:
        return []
    keys = [k.strip() for k in os.environ.get(variable, "").split(",") if k.strip()]
    if not keys:
        raise ManifestError(
            f"API keys are to come from ${variable}, but it is not set or "
            "empty; set it (several keys: comma-separated) or drop api_key_env"
        )
    return keys


def _is_open(path: str) -> bool:
    return path in wire.OPEN_ROUTES or path.startswith(wire.OPEN_PREFIXES)


def has_valid_key(scope: Scope, keys: list[bytes]) -> bool:
    """Whether the request carries one of `keys` (compared in constant time)."""
    given = b""
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            given = value[7:].strip()
        elif name == wire.API_KEY_HEADER.encode():
            given = value.strip()
    # Check every key, so the time taken does not tell which one was close.
    matches = [hmac.compare_digest(given, key) for key in keys]
    return bool(given) and any(matches)


class ApiKeyGuard:
    def __init__(
        self, app: ASGIApp, keys: list[str], skip: Callable[[str], bool] = lambda path: False
    ) -> None:
        """`skip`: paths another guard checks (the admin routes, when an admin key is set)."""
        self.app = app
        self.keys = [k.encode() for k in keys]
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or _is_open(scope["path"])
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
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _REFUSAL})
