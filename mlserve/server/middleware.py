"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware on every request): request id,
one access-log line and the request metrics, per request."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlserve import wire
from mlserve.bodies import header
from mlserve.engine.context import RequestInfo, current, request_id
from mlserve.server.live import LiveStats
from mlserve.server.logs import ACCESS_LOGGER, access_writer
from mlserve.server.metrics import Metrics


class RequestContext:
    """Take `X-Request-ID` or make one, echo it back; log and count the request at its end."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        live: LiveStats | None = None,
        echo_request_id: bool = True,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.live = live
        self.echo = echo_request_id
        # Chosen once: the logging set-up is in place before the app is built.
        self.write_access = access_writer()
        self.log_probes = logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.DEBUG)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        info = RequestInfo(request_id(header(scope, b"x-request-id")))
        info.headers = scope["headers"]
        token = current.set(info)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if self.echo:
                    echoed = (b"x-request-id", info.request_id.encode())
                    message["headers"] = [*message.get("headers", []), echoed]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
            for callback in info.after_response:  # e.g. a shadow's copy of this request
                callback()
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe_request(route, info.model, info.version, status, seconds)
            if self.live is not None and info.model is not None and info.version is not None:
                self.live.observe_request(info.model, info.version, status, seconds)
            quiet_probe = status < 400 and scope["path"] in wire.PROBES and not self.log_probes
            if self.write_access is not None and not quiet_probe:
                self.write_access(
                    (
                        info.request_id,
                        scope["method"],
                        scope["path"],
                        status,
                        seconds,
                        info.model,
                        info.version,
                        info.rows,
                    )
                )
            current.reset(token)


class RequestRecords:
    """The end of a request another front door served (gRPC): its access line, request
    metrics and console figures, as RequestContext records an HTTP request's."""

    def __init__(self, metrics: Metrics, live: LiveStats | None) -> None:
        self.metrics = metrics
        self.live = live
        self.write_access = access_writer()
        self.log_probes = logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.DEBUG)

    def finished(
        self,
        info: RequestInfo,
        protocol: str,
        method: str,
        route: str,
        status: int,
        seconds: float,
    ) -> None:
        model, version = info.model, info.version
        self.metrics.observe_request(route, model, version, status, seconds, protocol)
        if self.live is not None and model is not None and version is not None:
            self.live.observe_request(model, version, status, seconds)
        quiet_probe = status < 400 and route in wire.PROBES and not self.log_probes
        if self.write_access is not None and not quiet_probe:
            self.write_access(
                (info.request_id, method, route, status, seconds, model, version, info.rows)
            )
