"""What the server knows about the request being served, shared by the middleware (which
logs and counts it) and the inference core (which learns the model, version and rows).

The middleware puts one mutable RequestInfo in a context variable; the core fills it in. The
object is shared, so the middleware sees the core's notes even across task boundaries.
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

from mlserve import wire

_ROUTING_KEY = wire.ROUTING_KEY_HEADER.encode()


@dataclass
class RequestInfo:
    request_id: str
    model: str | None = None
    version: str | None = None
    rows: int | None = None
    headers: list[tuple[bytes, bytes]] | None = None  # the request's, read only when needed
    # Run once the response is sent (e.g. a shadow model's copy of the request).
    after_response: list[Callable[[], None]] = field(default_factory=list)


current: ContextVar[RequestInfo | None] = ContextVar("mlserve_request", default=None)

# A caller's request id is kept only if it is a token a log line cannot be forged with: no
# space (`x model=evil` would add fields), no quote, no control or bidirectional character.
# The charset is what ids in the wild use (uuids, ULIDs, W3C trace ids, `req-1:2/3`).
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
_PREFIX = os.urandom(4).hex()  # per process, so that workers never hand out the same id
_counter = itertools.count()


def request_id(given: str | None) -> str:
    """The caller's id when it is safe to log and echo (see above), else a new one: 16 hex
    digits unique to this process's requests (cheaper than a uuid4 per request)."""
    if given is not None and _SAFE_REQUEST_ID.fullmatch(given):
        return given
    return f"{_PREFIX}{next(_counter) & 0xFFFFFFFF:08x}"


class RequestObserver(Protocol):
    """What a front door tells at the end of each request (the access line, the request
    metrics, the console's figures), whichever protocol it speaks. `status` is the HTTP
    status the answer has or would have (gRPC: the error's HTTP twin)."""

    def finished(
        self,
        info: RequestInfo,
        protocol: str,
        method: str,
        route: str,
        status: int,
        seconds: float,
    ) -> None: ...


def current_request_id() -> str:
    """The id of the request being served, or a fresh one (e.g. for --local calls)."""
    info = current.get()
    return info.request_id if info is not None else uuid.uuid4().hex[:16]


def note_model(model: str, version: str, rows: int) -> None:
    info = current.get()
    if info is not None:
        info.model, info.version, info.rows = model, version, rows


def routing_key() -> str | None:
    """The request's routing key header: the same key reaches the same version of a split."""
    info = current.get()
    for name, value in (info.headers or []) if info is not None else []:
        if name == _ROUTING_KEY:
            return value.decode("latin-1")
    return None


def after_response(callback: Callable[[], None]) -> None:
    """Run `callback` once the response to the current request is sent (at once, on the
    event loop's next turn, outside a server request)."""
    info = current.get()
    if info is None:
        import asyncio

        asyncio.get_running_loop().call_soon(callback)
    else:
        info.after_response.append(callback)
