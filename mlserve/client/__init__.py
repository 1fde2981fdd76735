"""Clients: `Client` (sync) and `AsyncClient` over HTTP, `LocalClient` in process; the CLI
talks to either through the `Frontdoor` interface.

All load on first use: `mlserve --help` needs neither httpx nor the inference core.
"""

from __future__ import annotations

import importlib
from typing import Any

from mlserve.client.base import Frontdoor

__all__ = ["AsyncClient", "Client", "Frontdoor", "LocalClient", "RemoteClient"]

_LAZY = {
    "AsyncClient": "mlserve.client.http",
    "Client": "mlserve.client.remote",
    "LocalClient": "mlserve.client.local",
    "RemoteClient": "mlserve.client.remote",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)


def __dir__() -> list[str]:
    return sorted(__all__)
