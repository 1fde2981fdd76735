"""Client: the sync face of AsyncClient, for scripts, notebooks and the CLI.

It runs an AsyncClient on a private event loop in a daemon thread, so one Client may be used
from several threads at once (the CLI's `batch` keeps a few chunks in flight that way).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from mlserve.client.base import kind_in_info
from mlserve.client.http import DEFAULT_RETRIES, DEFAULT_TIMEOUT_S, AsyncClient, route
from mlserve.wire import Operation

T = TypeVar("T")

__all__ = ["Client", "RemoteClient", "route"]


class Client:
    """An mlserve server over HTTP. Use as `with Client("localhost:8000") as client:`.

    Methods and errors are AsyncClient's: `predict`, `predict_batch`, `classify`,
    `predict_image`, `info`, and an operator's `repository_index`, `load_model`,
    `unload_model`, `reload`; failures raise `mlserve.errors.MlserveError` subclasses."""

    def __new__(cls, url: str | None = None, **options: Any) -> Any:
        """`Client("grpc://host:8081")` is the same client over gRPC (mlserve.client.grpc:
        the named methods, each naming its model)."""
        if url is not None and url.startswith("grpc://"):
            from mlserve.client.grpc import GrpcClient

            options.pop("admin_key", None)  # the repository calls stay on HTTP
            return GrpcClient(url, **options)
        return super().__new__(cls)

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        admin_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        self._async = AsyncClient(
            url, api_key=api_key, admin_key=admin_key, timeout=timeout, retries=retries
        )
        self.url = self._async.url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="mlserve-client", daemon=True
        )
        self._thread.start()

    @property
    def retried(self) -> int:
        """How many requests were tried again (after a 503, 504 or a dropped connection)."""
        return self._async.retried

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def predict(
        self, features: Any, *, model: str | None = None, version: str | None = None
    ) -> dict[str, Any]:
        return self._wait(self._async.predict(features, model=model, version=version))

    def predict_batch(
        self, rows: Any, *, model: str | None = None, version: str | None = None
    ) -> dict[str, Any]:
        return self._wait(self._async.predict_batch(rows, model=model, version=version))

    def predict_array(
        self,
        rows: Any,
        *,
        columns: list[str] | None = None,
        model: str | None = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        return self._wait(
            self._async.predict_array(rows, columns=columns, model=model, version=version)
        )

    def classify(
        self, text: str | list[str], *, model: str | None = None, version: str | None = None
    ) -> dict[str, Any]:
        return self._wait(self._async.classify(text, model=model, version=version))

    def predict_image(
        self, image: Any, *, model: str | None = None, version: str | None = None
    ) -> dict[str, Any]:
        return self._wait(self._async.predict_image(image, model=model, version=version))

    def info(self) -> dict[str, Any]:
        return self._wait(self._async.info())

    def input_kind(self, model: str | None = None) -> str:
        """What `model` (default: the server's default model) takes: tabular, text or image."""
        return kind_in_info(self.info(), model)

    def repository_index(self, *, ready: bool = False) -> list[dict[str, Any]]:
        return self._wait(self._async.repository_index(ready=ready))

    def load_model(self, name: str, version: str | None = None) -> None:
        self._wait(self._async.load_model(name, version))

    def unload_model(self, name: str, version: str | None = None) -> None:
        self._wait(self._async.unload_model(name, version))

    def reload(self) -> dict[str, Any]:
        return self._wait(self._async.reload())

    def run(
        self,
        operation: Operation,
        payload: Any,
        model: str | None = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        """Send a JSON body for `operation` (what the CLI does); see the named methods."""
        return self._wait(self._async.run(operation, payload, model, version))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._wait(self._async.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


RemoteClient = Client  # the name of the first release
