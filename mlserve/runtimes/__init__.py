"""Runtimes by name: `runtime: xgboost` in a manifest is the module `mlserve.runtimes.xgboost`.

A runtime module defines `Options` (the pydantic model of its manifest options), `RUNTIME` (its
`mlserve.runtimes._base.Runtime` class) and `EXTRA` (what to install for its framework), and imports
its framework only inside `Runtime.load`, so that reading a manifest stays light. Adding a
framework is adding one module (and one conformance case): nothing here or elsewhere names it.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from types import ModuleType
from typing import TYPE_CHECKING

from mlserve.errors import ManifestError

if TYPE_CHECKING:
    from mlserve.runtimes._base import Runtime
    from mlserve.runtimes._options import RuntimeOptions


@functools.cache
def available() -> tuple[str, ...]:
    """Every runtime name: the public modules of this package (shared code is underscored)."""
    return tuple(
        sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    )


def _module(name: str) -> ModuleType:
    if name not in available():
        raise ManifestError(f"unknown runtime {name!r}; expected one of: {', '.join(available())}")
    return importlib.import_module(f"{__name__}.{name}")


def options_model(name: str) -> type[RuntimeOptions]:
    """The pydantic model of the runtime's manifest options."""
    options: type[RuntimeOptions] = _module(name).Options
    return options


def extra(name: str) -> str:
    """What to `pip install` for the runtime's framework."""
    return str(_module(name).EXTRA)


def platform(name: str) -> str:
    """The runtime's V2 `platform` name (its module's PLATFORM, else the runtime's name)."""
    return str(getattr(_module(name), "PLATFORM", name))


def resolve_runtime(name: str) -> type[Runtime]:
    """The runtime class registered under `name`."""
    cls: type[Runtime] = _module(name).RUNTIME
    return cls


def missing_framework(name: str, exc: ImportError) -> ManifestError:
    """The error for a runtime whose framework is not installed."""
    return ManifestError(
        f"runtime {name!r} needs a package that is not installed ({exc.name}): "
        f"pip install '{extra(name)}'"
    )
