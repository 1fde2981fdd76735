"""Clients with one interface: RemoteClient over HTTP, LocalClient in-process.

Both load on first use: `mlserve --help` needs neither httpx nor the inference core.
"""

from __future__ import annotations

import importlib
from typing import Any

from mlserve.client.base import Client

__all__ = ["Client", "LocalClient", "RemoteClient"]

_LAZY = {"LocalClient": "mlserve.client.local", "RemoteClient": "mlserve.client.remote"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
