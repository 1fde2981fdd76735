"""mlserve: launch and query machine-learning model servers.

`import mlserve` stays light: the inference core, the server and every framework load only
when one of their names is first used.
"""

from __future__ import annotations

import importlib
from typing import Any

from mlserve._version import __version__

__all__ = [
    "AsyncClient",
    "Client",
    "InferenceCore",
    "LocalClient",
    "Manifest",
    "MlserveError",
    "RemoteClient",
    "__version__",
    "create_app",
    "load_manifest",
]

_LAZY = {
    "AsyncClient": "mlserve.client.http",
    "Client": "mlserve.client.remote",
    "InferenceCore": "mlserve.engine.core",
    "LocalClient": "mlserve.client.local",
    "Manifest": "mlserve.config.schema",
    "MlserveError": "mlserve.errors",
    "RemoteClient": "mlserve.client.remote",
    "create_app": "mlserve.server.app",
    "load_manifest": "mlserve.config.load",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlserve' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, the lazy ones included (`dir(mlserve)` lists `Client`)."""
    return sorted(__all__)
