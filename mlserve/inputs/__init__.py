"""Request payloads -> validated model input. Every bad input ends here as an InputError."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlserve import wire
from mlserve.errors import InputError
from mlserve.wire import Operation

if TYPE_CHECKING:
    from mlserve.runtimes._base import RuntimeInfo

KIND_OF_OPERATION: dict[Operation, str] = {
    "predict": "tabular",
    "predict_batch": "tabular",
    "classify": "text",
    "predict_image": "image",
}


def check_kind(model: str, info: RuntimeInfo, wanted: str) -> None:
    """Refuse input of another kind than the model takes, saying which routes fit."""
    if info.input_kind != wanted:
        routes = " or ".join(
            wire.OPERATION_ROUTES[op]
            for op, kind in KIND_OF_OPERATION.items()
            if kind == info.input_kind
        )
        raise InputError(
            f"model {model!r} takes {info.input_kind} input, not {wanted}; use {routes}",
            input_kind=info.input_kind,
        )
