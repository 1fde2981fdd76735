"""Every error mlserve raises on purpose, with its HTTP status and CLI exit code.

The server turns these into JSON error bodies, the CLI into a message on stderr and an exit
code, so both front doors report a failure the same way. This module imports no web framework.

    MlserveError                       (500, exit 1)
    ├── ManifestError                  (500, exit 1)  manifest refused before anything starts
    ├── InputError                     (400, exit 1)  wrong shape or bad value
    │   ├── SchemaViolation            (422, exit 1)  wrong type, missing/unknown field, bounds
    │   ├── LimitExceeded              (413, exit 1)  body, rows, text or image too large
    │   ├── UnsupportedMediaType       (415, exit 1)  body is not JSON (or an image upload)
    │   ├── LoadFailed                 (400, exit 1)  an operator's load did not succeed
    │   └── ReloadRefused              (400, exit 1)  a reload's manifest is broken
    ├── Unauthorized                   (401, exit 1)  API key missing or wrong
    ├── ModelNotFound                  (404, exit 1)  unknown model or version
    ├── ModelNotReady                  (503, exit 1)  not loaded yet, or failed to load
    │   └── Overloaded                 (503, exit 1)  queue full; comes with Retry-After
    ├── InferenceTimeout               (504, exit 1)  the model did not answer in time
    ├── InferenceFailed                (500, exit 1)  the model raised; details stay in the log
    ├── InternalError                  (500, exit 1)  a bug; details stay in the log
    ├── ClientGone                     (499, exit 1)  the caller left before the model ran
    ├── UsageError                     (  -, exit 2)  the command line is wrong
    ├── ServerUnreachable              (503, exit 3)  the client could not reach the server
    │   ├── ServerTimeout              (504, exit 3)  no complete answer within --timeout
    │   └── UnexpectedAnswer           (502, exit 3)  the answer is not mlserve's API
    └── CouldNotStart                  (  -, exit 4)  `serve` could not start (port in use)
"""

from __future__ import annotations

from typing import Any, ClassVar


class MlserveError(Exception):
    """Base of every deliberate mlserve error: a message a person can act on."""

    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1
    code: ClassVar[str] = "error"

    def __init__(self, message: str, *, retry_after: int | None = None, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        # Seconds after which a retry may succeed; sent as `Retry-After` only when set, so a
        # client is never told to retry something that nothing will fix.
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message  # kept current when a caller adds context (rows, retries)

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        body.update(self.detail)
        return body


class ManifestError(MlserveError):
    code = "manifest_error"


class InputError(MlserveError):
    http_status = 400
    code = "invalid_input"


class SchemaViolation(InputError):
    http_status = 422
    code = "schema_violation"


class LimitExceeded(InputError):
    http_status = 413
    code = "too_large"


class HeadTooLarge(LimitExceeded):
    """The request line and headers are over the server's limits (answered by the transport,
    before any route)."""

    http_status = 431
    code = "headers_too_large"


class UnsupportedMediaType(InputError):
    http_status = 415
    code = "unsupported_media_type"


class LoadFailed(InputError):
    code = "load_failed"


class ReloadRefused(InputError):
    code = "reload_refused"


class Unauthorized(MlserveError):
    http_status = 401
    code = "unauthorized"


class Forbidden(MlserveError):
    """Refused whoever asks this way (a cross-site request to the admin routes)."""

    http_status = 403
    code = "forbidden"


class ModelNotFound(MlserveError):
    http_status = 404
    code = "not_found"


class ModelNotReady(MlserveError):
    http_status = 503
    code = "model_not_ready"


class Overloaded(ModelNotReady):
    code = "overloaded"

    def __init__(self, message: str, *, retry_after: int | None = 1, **detail: Any) -> None:
        super().__init__(message, retry_after=retry_after, **detail)


class InferenceTimeout(MlserveError):
    http_status = 504
    code = "timeout"


class InferenceFailed(MlserveError):
    code = "inference_failed"


class InternalError(MlserveError):
    """A bug, not a bad request: the log has the traceback under the request id."""

    code = "internal_error"


class ClientGone(MlserveError):
    """The caller disconnected while queued; its rows never reached the model."""

    http_status = 499
    code = "client_closed_request"


class Unavailable(ModelNotReady):
    """A 502/503 from something that is not mlserve (a proxy, a load balancer): worth a
    retry; in the CLI, the server is as good as unreachable (exit 3)."""

    exit_code = 3
    code = "unavailable"


class UsageError(MlserveError):
    exit_code = 2
    code = "usage"


class ServerUnreachable(MlserveError):
    http_status = 503
    exit_code = 3
    code = "unreachable"


class ServerTimeout(ServerUnreachable):
    http_status = 504
    code = "client_timeout"


class UnexpectedAnswer(ServerUnreachable):
    http_status = 502
    code = "unexpected_answer"


class CouldNotStart(MlserveError):
    exit_code = 4
    code = "could_not_start"


_BY_CODE: dict[str, type[MlserveError]] = {
    cls.code: cls
    for cls in (
        MlserveError,
        ManifestError,
        InputError,
        SchemaViolation,
        LimitExceeded,
        UnsupportedMediaType,
        LoadFailed,
        ReloadRefused,
        Unauthorized,
        ModelNotFound,
        ModelNotReady,
        Overloaded,
        InferenceTimeout,
        InferenceFailed,
    )
}


_BY_STATUS: dict[int, type[MlserveError]] = {
    400: InputError,
    401: Unauthorized,
    404: ModelNotFound,
    413: LimitExceeded,
    415: UnsupportedMediaType,
    422: SchemaViolation,
    502: Unavailable,
    503: Unavailable,
    504: InferenceTimeout,
}


def error_from_body(status: int, body: Any) -> MlserveError:
    """Rebuild the server's error on the client side, so remote and --local raise alike."""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        cls = _BY_CODE.get(str(body.get("error")), _BY_STATUS.get(status, MlserveError))
        detail = {k: v for k, v in body.items() if k not in ("error", "message")}
        return cls(body["message"], **detail)
    cls = _BY_STATUS.get(status, MlserveError)
    if isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], str):
        return cls(body["error"])  # the Open Inference Protocol's error body
    return cls(f"server answered HTTP {status}: {str(body)[:200]}")
