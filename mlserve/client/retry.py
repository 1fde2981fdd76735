"""When a remote call is tried again, and how long to wait first.

Inference has no side effects, so a request may be sent again: after a 503 (busy or still
loading) or a 504, and after a connection that dropped mid-request. Never after a 4xx: the
same request would be refused the same way. A 503 without `Retry-After` from mlserve means a
model failed to load, which no retry fixes. Waits grow exponentially with jitter (so many
clients do not retry in step) and follow the server's `Retry-After` when it sends one.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from tenacity import RetryCallState

from mlserve.errors import InferenceTimeout, ModelNotReady, Overloaded

FIRST_WAIT_S = 0.2
MAX_WAIT_S = 10.0
# Failures of the connection after the request was (maybe) sent: worth one more try.
DROPPED = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, httpx.PoolTimeout)


def should_retry(exc: BaseException) -> bool:
    if isinstance(exc, (*DROPPED, InferenceTimeout, Overloaded)):
        return True
    if isinstance(exc, ModelNotReady):
        return exc.retry_after is not None or exc.code != ModelNotReady.code
    return False


def backoff(exc: BaseException | None, retry: int) -> float:
    """Seconds before the `retry`-th retry: the server's Retry-After if it sent one, else
    exponential backoff with full jitter."""
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after > 0:
        return float(min(retry_after, MAX_WAIT_S)) + random.uniform(0, FIRST_WAIT_S)
    ceiling = min(MAX_WAIT_S, FIRST_WAIT_S * 2 ** (retry - 1))
    return random.uniform(FIRST_WAIT_S / 2, ceiling)


def wait_after_first_retry(state: RetryCallState) -> float:
    """tenacity's wait for the retries after the first (its attempt 1 is our retry 2)."""
    exc = state.outcome.exception() if state.outcome is not None else None
    return backoff(exc, state.attempt_number + 1)
