"""Per-request context shared by the server middleware and the inference core."""

from __future__ import annotations

import uuid
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("mlserve_request_id", default=None)


def current_request_id() -> str:
    """The id of the request being served, or a fresh one (e.g. for --local calls)."""
    return request_id.get() or uuid.uuid4().hex[:16]
