"""mlserve's errors as gRPC status codes: the gRPC rendering of the one taxonomy
(mlserve.errors), as server/errors.py is its HTTP rendering. The message is the same text
HTTP sends; a retry hint travels as `retry-after` trailing metadata.

Bad input is never INTERNAL or UNKNOWN: only a model that failed (InferenceFailed) or a bug
(InternalError, or an exception nothing raised on purpose) is INTERNAL.
"""

from __future__ import annotations

import grpc

from mlserve.errors import (
    ClientGone,
    InferenceTimeout,
    InputError,
    LimitExceeded,
    MlserveError,
    ModelNotFound,
    ModelNotReady,
    Unauthorized,
)

# Most specific first: a subclass is matched before its parent.
CODES: list[tuple[type[MlserveError], grpc.StatusCode]] = [
    (LimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (InputError, grpc.StatusCode.INVALID_ARGUMENT),
    (Unauthorized, grpc.StatusCode.UNAUTHENTICATED),
    (ModelNotFound, grpc.StatusCode.NOT_FOUND),
    (ModelNotReady, grpc.StatusCode.UNAVAILABLE),  # loading, unloaded, overloaded
    (InferenceTimeout, grpc.StatusCode.DEADLINE_EXCEEDED),
    (ClientGone, grpc.StatusCode.CANCELLED),
]


def status_code(error: MlserveError) -> grpc.StatusCode:
    for kind, code in CODES:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INTERNAL


def trailing_metadata(error: MlserveError) -> tuple[tuple[str, str], ...]:
    if error.retry_after is None:
        return ()
    return (("retry-after", str(error.retry_after)),)
