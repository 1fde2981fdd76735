"""Runtimes by name, imported only when a manifest asks for them.

Adding a framework means adding one module with a `Runtime` class and one line here; the
server, the inference core and the CLI never name a framework.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from mlserve.errors import ManifestError

if TYPE_CHECKING:
    from mlserve.runtimes.base import Runtime

RUNTIMES: dict[str, str] = {
    "sklearn": "mlserve.runtimes.sklearn:SklearnRuntime",
    "torch": "mlserve.runtimes.torch:TorchRuntime",
    "transformers": "mlserve.runtimes.transformers:TransformersRuntime",
}

# The input a runtime takes when the manifest's `input` does not say (tabular otherwise); known
# before the model loads, so requests can be routed by kind to a lazy model.
INPUT_KINDS: dict[str, str] = {"transformers": "text"}

# What to install when a runtime's framework is missing.
EXTRAS: dict[str, str] = {
    "sklearn": "mlserve",
    "torch": "mlserve[torch]",
    "transformers": "mlserve[transformers]",
}


def resolve_runtime(name: str) -> type[Runtime]:
    """Import the runtime class registered under `name`."""
    try:
        module_name, _, attr = RUNTIMES[name].partition(":")
    except KeyError:
        raise ManifestError(
            f"unknown runtime {name!r}; expected one of: {', '.join(RUNTIMES)}"
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ManifestError(
            f"runtime {name!r} needs a package that is not installed ({exc.name}): "
            f"pip install '{EXTRAS.get(name, 'mlserve[all]')}'"
        ) from exc
    cls: type[Runtime] = getattr(module, attr)
    return cls
