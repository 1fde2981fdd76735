"""What the server knows about the request being served, shared by the middleware (which
logs and counts it) and the inference core (which learns the model, version and rows).

The middleware puts one mutable RequestInfo in a context variable; the core fills it in. The
object is shared, so the middleware sees the core's notes even across task boundaries.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class RequestInfo:
    request_id: str
    model: str | None = None
    version: str | None = None
    rows: int | None = None


current: ContextVar[RequestInfo | None] = ContextVar("mlserve_request", default=None)


def current_request_id() -> str:
    """The id of the request being served, or a fresh one (e.g. for --local calls)."""
    info = current.get()
    return info.request_id if info is not None else uuid.uuid4().hex[:16]


def note_model(model: str, version: str, rows: int) -> None:
    info = current.get()
    if info is not None:
        info.model, info.version, info.rows = model, version, rows
