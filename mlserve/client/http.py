"""AsyncClient: the mlserve HTTP API over httpx, with retries and a total deadline per request.

The sync `mlserve.Client` runs this same client on a private event loop, so both share every
rule: routes, errors, retries and deadlines.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx
import orjson

from mlserve import wire
from mlserve.client import payloads
from mlserve.client.base import split_model
from mlserve.client.retry import backoff, should_retry, wait_after_first_retry
from mlserve.errors import (
    MlserveError,
    ServerTimeout,
    ServerUnreachable,
    UnexpectedAnswer,
    UsageError,
    error_from_body,
)
from mlserve.wire import Operation

if TYPE_CHECKING:
    from mlserve.client.tensors import V2Target

JSON_BODY = {"Content-Type": "application/json"}
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 5


def normalize_url(url: str | None) -> str:
    """`host:port` (as tritonclient and `mlserver infer` take it) means `http://host:port`."""
    url = (url or os.environ.get(wire.ENV_URL) or wire.DEFAULT_URL).strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url {url!r} is not an http(s) address such as http://127.0.0.1:8000")
    return url


def route(operation: Operation, model: str | None, version: str | None) -> str:
    """The mlserve route that serves this operation on this model and version."""
    prefix = ""
    if model:
        prefix = _named(wire.MODEL_VERSION_PREFIX if version else wire.MODEL_PREFIX, model, version)
    elif version:
        prefix = _named(wire.VERSION_PREFIX, None, version)
    return prefix + wire.OPERATION_ROUTES[operation]


def _named(template: str, model: str | None, version: str | None) -> str:
    """A route template with its name and version filled in, each quoted whole."""
    if model is not None:
        template = template.replace("{name}", quote(model, safe=""))
    if version is not None:
        template = template.replace("{version}", quote(version, safe=""))
    return template


class AsyncClient:
    """An mlserve server over HTTP. Use as `async with AsyncClient(url) as client:`.

    `timeout` is a total deadline per request (connecting, sending and reading the whole
    answer), not per read: a server that trickles a byte at a time cannot hold a call longer.
    `retries` is how many times a 503, 504 or dropped connection is tried again."""

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        admin_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`admin_key` (default `$MLSERVE_ADMIN_KEY`) goes only with an operator's calls."""
        self.url = normalize_url(url)
        admin_key = admin_key if admin_key is not None else os.environ.get(wire.ENV_ADMIN_KEY)
        self._admin_headers = {**JSON_BODY}
        if admin_key:
            self._admin_headers["Authorization"] = f"Bearer {admin_key}"
        self.timeout = timeout
        self.retries = retries
        self.retried = 0  # how many retries this client made, for reports
        api_key = api_key if api_key is not None else os.environ.get(wire.ENV_API_KEY)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            timeout=timeout,
            # Plain http has no TLS to verify: skip loading the CA bundle (a CLI call's cost).
            verify=self.url.startswith("https://"),
            # Idle connections expire before uvicorn's 5 s keep-alive closes them server-side.
            limits=httpx.Limits(keepalive_expiry=2),
            transport=transport,
        )
        self._v2_targets: dict[tuple[str, str], V2Target | None] = {}

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- named methods ---------------------------------------------------------------------

    async def predict(
        self, features: Any, *, model: str | None = None, version: str | None = None
    ) -> dict[str, Any]:
        """One row: a list or 1-D array in model order, or a mapping of named features."""
        return await self.run("predict", payloads.row(features), model, version)

    async def predict_batch(
        self, rows: Any, *, model: str | None = None, version: str | None = None
    ) -> dict[str, Any]:
        """Rows: lists, a 2-D numpy array, or a pandas DataFrame (columns sent by name)."""
        return await self.run("predict_batch", payloads.rows(rows), model, version)

    async def classify(
        self, text: str | list[str], *, model: str | None = None, version: str | None = None
    ) -> dict[str, Any]:
        """One text (an answer) or a list of texts (answers under `predictions`)."""
        return await self.run("classify", payloads.texts(text), model, version)

    async def predict_image(
        self, image: Any, *, model: str | None = None, version: str | None = None
    ) -> dict[str, Any]:
        """An image as bytes or a path to an image file."""
        return await self.run("predict_image", payloads.image(image), model, version)

    async def predict_array(
        self,
        rows: Any,
        *,
        columns: list[str] | None = None,
        model: str | None = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        """Rows of a 2-D numeric numpy array, optionally named by `columns`; the answer is
        /predict/batch's. With a model *and* version named, and a server that offers V2
        binary tensors, the rows go as raw FP64 (no JSON numbers either way), and a refusal
        (or a 503 that outlasts the retries) is asked again of /predict/batch, so errors and
        exit codes read exactly as there."""
        model, version = split_model(model, version)
        target = await self._v2_target(model, version) if model and version else None
        if target is not None:
            body, headers = target.request(rows, columns)
            try:
                response = await self._exchange("POST", target.path, body, headers)
                predictions = target.predictions(
                    response.content, response.headers.get(wire.V2_HEADER_LENGTH)
                )
                return {"model": model, "version": version, "predictions": predictions}
            except ServerUnreachable as exc:
                if not isinstance(exc, UnexpectedAnswer):
                    raise  # the network, not the route: JSON would fare no better
            except MlserveError:  # refused, busy after every retry, failed: ask the batch route
                pass
        payload = payloads.named_rows(rows, columns)
        return await self.run("predict_batch", payload, model, version)

    async def _v2_target(self, model: str, version: str) -> V2Target | None:
        """The version's V2 description, asked once; None where V2 binary tensors are not
        offered (another server, or a model that takes text or images)."""
        from mlserve.client.tensors import BINARY_EXTENSION, V2Target

        key = (model, version)
        if key not in self._v2_targets:
            target = None
            try:
                server = await self._call("GET", wire.V2, None)
                if BINARY_EXTENSION in (server.get("extensions") or []):
                    path = wire.V2 + _named(wire.MODEL_VERSION_PREFIX, model, version)
                    target = V2Target.from_metadata(
                        path + wire.V2_INFER, await self._call("GET", path, None)
                    )
            except MlserveError:
                target = None
            self._v2_targets[key] = target
        return self._v2_targets[key]

    async def info(self) -> dict[str, Any]:
        """Every model version the server holds."""
        answer = await self._call("GET", wire.MODEL_INFO, None)
        if not isinstance(answer.get("models"), list):
            raise UnexpectedAnswer(f"{self.url} did not describe its models: {str(answer)[:200]}")
        return answer

    # -- an operator's calls (admin key) ---------------------------------------------------

    async def repository_index(self, *, ready: bool = False) -> list[dict[str, Any]]:
        """Every model version the server's manifest names, with its state."""
        answer = await self._admin(wire.V2_REPOSITORY_INDEX, {"ready": ready})
        if not isinstance(answer, list):
            raise UnexpectedAnswer(f"{self.url} did not list its models: {str(answer)[:200]}")
        return answer

    async def load_model(self, name: str, version: str | None = None) -> None:
        """Load a version the manifest names (every version without one)."""
        await self._admin(_named(wire.V2_REPOSITORY_LOAD, name, None), _version(version))

    async def unload_model(self, name: str, version: str | None = None) -> None:
        """Finish a version's requests, then free it (every version without one)."""
        await self._admin(_named(wire.V2_REPOSITORY_UNLOAD, name, None), _version(version))

    async def reload(self) -> dict[str, Any]:
        """Have the server read its manifest again and apply what changed."""
        answer = await self._admin(wire.RELOAD, {})
        if not isinstance(answer, dict):
            raise UnexpectedAnswer(f"{self.url} did not report its reload: {str(answer)[:200]}")
        return answer

    async def _admin(self, path: str, body: dict[str, Any]) -> Any:
        response = await self._exchange("POST", path, orjson.dumps(body), self._admin_headers)
        return _decoded(response)

    # -- the one path every call takes -----------------------------------------------------

    async def run(
        self,
        operation: Operation,
        payload: Any,
        model: str | None = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        model, version = split_model(model, version)
        body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
        answer = await self._call("POST", route(operation, model, version), body)
        return payloads.check_answer(operation, answer, payloads.is_single(operation, payload))

    async def _call(self, method: str, path: str, body: bytes | None) -> dict[str, Any]:
        response = await self._exchange(method, path, body, JSON_BODY)
        return _json_answer(response, f"{self.url}{path}")

    async def _exchange(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str] | None
    ) -> httpx.Response:
        """A successful response, after retries; an error status raises its MlserveError."""
        try:
            return await self._once(method, path, body, headers)
        except Exception as exc:
            if self.retries == 0 or not should_retry(exc):
                raise
            first_failure = exc
        return await self._retry(method, path, body, headers, first_failure)

    async def _retry(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str] | None,
        failure: BaseException,
    ) -> httpx.Response:
        """Tries 2 and later. tenacity is imported only here: a call that succeeds at once
        (nearly every one) does not pay its import time in a CLI process."""
        from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

        await asyncio.sleep(backoff(failure, 1))
        self.retried += 1
        retrying = AsyncRetrying(
            retry=retry_if_exception(should_retry),
            wait=wait_after_first_retry,
            stop=stop_after_attempt(self.retries),
            reraise=True,
            before_sleep=self._count_retry,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._once(method, path, body, headers)
        except MlserveError as exc:
            retries = retrying.statistics.get("attempt_number", 1)  # every one a retry
            exc.message += f" (gave up after {retries} retries; --retries raises that)"
            raise
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _count_retry(self, _: Any) -> None:
        self.retried += 1

    async def _once(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str] | None
    ) -> httpx.Response:
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._http.request(
                    method, path, content=body, headers=headers if body is not None else None
                )
        except TimeoutError:
            raise ServerTimeout(
                f"no complete answer from {self.url}{path} within {self.timeout:g}s "
                "(raise --timeout for slow models)"
            ) from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ServerUnreachable(
                f"cannot reach the mlserve server at {self.url} ({exc}); start it with "
                "`mlserve serve models.yaml`, pass --url, or use --local"
            ) from None
        if response.status_code >= 400:
            raise _error(response)
        return response


def _version(version: str | None) -> dict[str, Any]:
    return {"parameters": {"version": version}} if version is not None else {}


def _decoded(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return response.text


def _error(response: httpx.Response) -> MlserveError:
    error = error_from_body(response.status_code, _decoded(response))
    retry_after = response.headers.get("retry-after", "")
    if retry_after.isdigit():
        error.retry_after = int(retry_after)
    return error


def _json_answer(response: httpx.Response, where: str) -> dict[str, Any]:
    body = _decoded(response)
    if not isinstance(body, dict):
        raise UnexpectedAnswer(
            f"{where} answered something that is not mlserve's API: {str(body)[:200]!r}"
        )
    return body
