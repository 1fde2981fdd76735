"""The client interface the CLI talks to, whichever door the request goes through."""

from __future__ import annotations

from typing import Any, Protocol

from mlserve.errors import UsageError
from mlserve.wire import Operation

__all__ = ["Frontdoor", "Operation", "kind_in_info", "split_model"]


def split_model(model: str | None, version: str | None) -> tuple[str | None, str | None]:
    """`name:version` names a version too; an explicit version must agree with it."""
    if model is None or ":" not in model:
        return model, version
    name, _, pinned = model.partition(":")
    if version is not None and version != pinned:
        raise UsageError(f"--model {model} and --model-version {version} disagree")
    return name or None, pinned or version


def kind_in_info(info: dict[str, Any], model: str | None) -> str:
    """A model's input kind in an info body (default: the default model's)."""
    name = split_model(model, None)[0] or info.get("default_model")
    kinds = [m.get("input_kind") for m in info["models"] if m.get("model") == name]
    if not kinds or not isinstance(kinds[0], str):
        from mlserve.errors import ModelNotFound

        known = ", ".join(sorted({str(m.get("model")) for m in info["models"]}))
        raise ModelNotFound(f"unknown model {name!r}; available: {known}")
    return kinds[0]


class Frontdoor(Protocol):
    """What the CLI talks to, whichever door a request goes through: send one operation to
    a model and get the server's JSON body back as a dict.

    RemoteClient posts it to a running server; LocalClient runs the same inference core
    in-process. Both raise mlserve.errors.MlserveError subclasses on failure.
    """

    def run(
        self,
        operation: Operation,
        payload: Any,
        model: str | None = None,
        version: str | None = None,
    ) -> dict[str, Any]: ...

    def predict_array(
        self,
        rows: Any,
        *,
        columns: list[str] | None = None,
        model: str | None = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        """Rows of a 2-D numeric numpy array (named by `columns`, if given): /predict/batch's
        answer, by the cheapest way the client has (V2 binary tensors over HTTP)."""
        ...

    def info(self) -> dict[str, Any]: ...

    def input_kind(self, model: str | None = None) -> str:
        """What `model` (default: the default model) takes: tabular, text or image."""
        ...

    def close(self) -> None: ...
