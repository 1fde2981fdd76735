"""Python values -> the JSON bodies of the mlserve routes, and checks of what comes back.

numpy arrays and pandas frames are taken by duck typing: nothing here imports either, so a
CLI call stays quick.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlserve.errors import InputError, UnexpectedAnswer
from mlserve.wire import Operation


def row(features: Any) -> dict[str, Any]:
    if isinstance(features, Mapping):
        return {"features": dict(features)}
    values = features.tolist() if hasattr(features, "tolist") else list(features)
    if any(isinstance(v, list | tuple) for v in values):
        raise InputError("one row is a flat list of features; send rows with predict_batch")
    return {"features": values}


def rows(data: Any) -> dict[str, Any]:
    columns = getattr(data, "columns", None)
    if columns is not None and hasattr(data, "to_numpy"):  # a pandas DataFrame
        return {"inputs": data.to_numpy().tolist(), "columns": [str(c) for c in columns]}
    if hasattr(data, "ndim") and hasattr(data, "tolist"):  # a numpy array
        if data.ndim != 2:
            raise InputError(f"rows are a 2-D array, got shape {list(data.shape)}")
        return {"inputs": data.tolist()}
    return {"inputs": [list(r) if isinstance(r, tuple) else r for r in data]}


def named_rows(rows: Any, columns: list[str] | None) -> dict[str, Any]:
    """A 2-D array as it is (orjson writes numpy), with the names of its columns if given."""
    return {"inputs": rows} if columns is None else {"inputs": rows, "columns": columns}


def texts(text: str | list[str]) -> dict[str, Any]:
    return {"text": text} if isinstance(text, str) else {"texts": list(text)}


def image(source: bytes | str | Path) -> dict[str, Any]:
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    return {"image_base64": base64.b64encode(data).decode()}


def check_answer(operation: Operation, body: dict[str, Any], single: bool) -> dict[str, Any]:
    """Refuse a 200 answer that is not a prediction: a proxy page, `{}`, a wrong shape."""
    if single:
        ok = "prediction" in body
    else:
        predictions = body.get("predictions")
        ok = isinstance(predictions, list) and all(
            isinstance(p, dict) and "prediction" in p for p in predictions
        )
    if not ok:
        raise UnexpectedAnswer(
            f"the server's answer to {operation} has no "
            f"{'prediction' if single else 'list of predictions'}: {str(body)[:200]}"
        )
    return body


def is_single(operation: Operation, payload: Any) -> bool:
    if operation == "predict_batch":
        return False
    return not (operation == "classify" and isinstance(payload, dict) and "texts" in payload)
