"""RemoteClient: the mlserve HTTP API over httpx."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from mlserve import wire
from mlserve.client.base import Operation
from mlserve.errors import MlserveError, ServerUnreachable, error_from_body


def route(operation: Operation, model: str | None, version: str | None) -> str:
    """The route of DESIGN.md that serves this operation on this model and version."""
    prefix = ""
    if model:
        prefix = f"/models/{quote(model, safe='')}"
        if version:
            prefix += f"/versions/{quote(version, safe='')}"
    elif version:
        prefix = f"/{quote(version, safe='')}"
    return prefix + wire.OPERATION_ROUTES[operation]


class RemoteClient:
    """Talks to a running `mlserve serve`; connection failures become ServerUnreachable."""

    def __init__(
        self, url: str | None = None, api_key: str | None = None, timeout: float = 60.0
    ) -> None:
        self.url = (url or os.environ.get(wire.ENV_URL) or wire.DEFAULT_URL).rstrip("/")
        api_key = api_key if api_key is not None else os.environ.get(wire.ENV_API_KEY)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Plain http has no TLS to verify: skip loading the CA bundle (70 ms of a CLI call).
        verify = self.url.startswith("https://")
        # Idle connections expire before uvicorn's 5 s keep-alive closes them on the server,
        # so a pooled connection is never reused just as the server closes it.
        limits = httpx.Limits(keepalive_expiry=2)
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, verify=verify, limits=limits
        )

    def run(
        self,
        operation: Operation,
        payload: Any,
        model: str | None = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        return self._request(
            "POST",
            route(operation, model, version),
            content=orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
            headers={"Content-Type": "application/json"},
        )

    def info(self) -> dict[str, Any]:
        return self._request("GET", wire.MODEL_INFO)

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ServerUnreachable(
                f"cannot reach the mlserve server at {self.url} ({exc}); start it with "
                "`mlserve serve models.yaml`, pass --url, or use --local"
            ) from None
        except httpx.HTTPError as exc:
            raise MlserveError(f"request to {self.url}{path} failed: {exc}") from None
        try:
            body = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            body = response.text
        if response.status_code >= 400:
            raise error_from_body(response.status_code, body)
        if not isinstance(body, dict):
            raise MlserveError(f"unexpected answer from {self.url}{path}: {str(body)[:200]}")
        return body
