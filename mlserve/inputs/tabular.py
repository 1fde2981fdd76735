"""Feature lists, named features and batch rows -> a 2-D float64 array.

The fast path hands the whole list to numpy once; only when that fails do we walk the rows to
say exactly which row and feature is wrong, so a 10,000-row batch costs one conversion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlserve.config.schema import FeatureSpec, LimitsSpec
from mlserve.errors import InputError, LimitExceeded, SchemaViolation

Features = Sequence[FeatureSpec] | None
# Up to this many values, Python's min/max over a list beat two numpy reductions.
SMALL_MATRIX = 256
FLOAT32_MAX = float(np.finfo(np.float32).max)


def single_row(
    payload: Any, width: int | None, features: Features, limits: LimitsSpec
) -> np.ndarray:
    """`{"features": [..]}`, `{"features": {name: value}}` or, for named models, `{name: value}`."""
    if not isinstance(payload, dict):
        raise SchemaViolation(f"expected a JSON object, got {_json_type(payload)}")
    if "features" in payload:
        if len(payload) > 1:
            extra = sorted(k for k in payload if k != "features")
            raise SchemaViolation(f"unexpected field(s) beside 'features': {', '.join(extra)}")
        row = payload["features"]
        if isinstance(row, list) and row and isinstance(row[0], list):
            raise InputError(
                "'features' must be a flat list of numbers; "
                'send several rows to /predict/batch as {"inputs": [[..], ..]}'
            )
    elif features:
        row = payload
    else:
        raise SchemaViolation("missing field 'features': send {\"features\": [1.0, 2.0, ...]}")
    return rows_to_matrix([row], width, features, limits, field="features")


def batch_rows(
    payload: Any, width: int | None, features: Features, limits: LimitsSpec
) -> np.ndarray:
    """`{"inputs": [[..], ..]}`, optionally with `"columns": [names]` (a CSV header), or, for
    named models, `{"inputs": [{name: value}, ..]}`."""
    if not isinstance(payload, dict):
        raise SchemaViolation(f"expected a JSON object, got {_json_type(payload)}")
    if "inputs" not in payload:
        raise SchemaViolation("missing field 'inputs': send {\"inputs\": [[1.0, 2.0], ...]}")
    extra = sorted(set(payload) - {"inputs", "columns"})
    if extra:
        raise SchemaViolation(f"unexpected field(s): {', '.join(extra)}")
    columns = payload.get("columns")
    if columns is None:
        return rows_to_matrix(payload["inputs"], width, features, limits)
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise SchemaViolation("'columns' must be a list of column names")
    if not features:
        return rows_to_matrix(payload["inputs"], width, None, limits)
    matrix = rows_to_matrix(payload["inputs"], len(columns), None, limits)
    return check_bounds(matrix[:, _column_order(columns, features)], features)


def _column_order(columns: list[str], features: Sequence[FeatureSpec]) -> list[int]:
    names = [f.name for f in features]
    unknown = sorted(set(columns) - set(names))
    if unknown:
        raise SchemaViolation(
            f"unknown column {unknown[0]!r}; expected: {', '.join(names)}", field=unknown[0]
        )
    missing = [n for n in names if n not in columns]
    if missing:
        raise SchemaViolation(f"missing column {missing[0]!r}", field=missing[0])
    return [columns.index(n) for n in names]


def array_rows(
    matrix: np.ndarray, width: int | None, features: Features, limits: LimitsSpec
) -> np.ndarray:
    """A numeric 2-D array a protocol decoded itself (V2 tensors), checked as JSON rows are.
    An aligned FP64 one is used as is; one read at an odd offset of a body is copied once
    (numpy's loops, and the model's, are several times slower on it)."""
    if matrix.ndim != 2 or matrix.dtype.kind not in "biuf":
        raise InputError(f"expected a numeric tensor of shape [rows, features], got {matrix.dtype}")
    aligned = np.require(matrix, np.float64, ["A"])
    return _checked(aligned, width, features, limits, "inputs")


def rows_to_matrix(
    rows: Any, width: int | None, features: Features, limits: LimitsSpec, field: str = "inputs"
) -> np.ndarray:
    if isinstance(rows, np.ndarray):  # an in-process caller's array (LocalClient.predict_array)
        return array_rows(rows, width, features, limits)
    if not isinstance(rows, list):
        raise SchemaViolation(f"'{field}' must be a list, got {_json_type(rows)}")
    if not rows:
        raise InputError(f"'{field}' is empty; send at least one row")
    if len(rows) > limits.max_batch_rows:
        raise LimitExceeded(
            f"{len(rows)} rows in one request; the limit is {limits.max_batch_rows}"
        )
    if features and any(isinstance(r, dict) for r in rows):
        return check_range(_named_rows(rows, features))
    matrix = _fast_matrix(rows)
    if matrix is None:
        matrix = _slow_matrix(rows, features)
    return _checked(matrix, width, features, limits, field)


def _checked(
    matrix: np.ndarray, width: int | None, features: Features, limits: LimitsSpec, field: str
) -> np.ndarray:
    if not matrix.size:
        raise InputError(f"'{field}' is empty; send at least one row")
    if len(matrix) > limits.max_batch_rows:
        raise LimitExceeded(
            f"{len(matrix)} rows in one request; the limit is {limits.max_batch_rows}"
        )
    if matrix.shape[1] > limits.max_features:
        raise LimitExceeded(
            f"{matrix.shape[1]} features per row; the limit is {limits.max_features}"
        )
    expected = len(features) if features else width
    if expected is not None and matrix.shape[1] != expected:
        names = f" ({', '.join(f.name for f in features)})" if features else ""
        raise InputError(
            f"expected {expected} features{names}, got {matrix.shape[1]}",
            expected=expected,
            got=int(matrix.shape[1]),
        )
    check_range(matrix)
    return check_bounds(matrix, features) if features else matrix


def check_range(matrix: np.ndarray) -> np.ndarray:
    """Finite values within float32's range, on every tabular path: tree models and torch
    compute in float32, where a larger value becomes infinity."""
    if 0 < matrix.size <= SMALL_MATRIX:  # a request's few rows: numpy's per-call cost dominates
        values = matrix.ravel().tolist()
        total = sum(values)  # NaN or an infinity anywhere makes the sum NaN or infinite
        if math.isfinite(total) and min(values) >= -FLOAT32_MAX and max(values) <= FLOAT32_MAX:
            return matrix
    elif matrix.size and matrix.min() >= -FLOAT32_MAX and matrix.max() <= FLOAT32_MAX:
        return matrix  # two reductions, no temporary arrays (NaN fails both comparisons)
    if not np.isfinite(matrix).all():
        row, col = (int(i) for i in np.argwhere(~np.isfinite(matrix))[0])
        raise InputError(f"row {row}, feature {col}: NaN and infinity are not allowed")
    too_big = np.abs(matrix) > FLOAT32_MAX
    if too_big.any():
        row, col = (int(i) for i in np.argwhere(too_big)[0])
        raise InputError(
            f"row {row}, feature {col}: {matrix[row, col]:g} is out of range "
            f"(|value| must stay below {FLOAT32_MAX:.3g})"
        )
    return matrix


def check_bounds(matrix: np.ndarray, features: Sequence[FeatureSpec]) -> np.ndarray:
    """Types and bounds of named features, column by column; names the first bad field."""
    for j, spec in enumerate(features):
        column = matrix[:, j]
        bad = np.zeros(len(column), dtype=bool)
        if spec.type == "int":
            bad |= column != np.round(column)
        if spec.min is not None:
            bad |= column < spec.min
        if spec.max is not None:
            bad |= column > spec.max
        if bad.any():
            row = int(np.argmax(bad))
            _check_feature(spec, float(column[row]), row)
    return matrix


def _fast_matrix(rows: list[Any]) -> np.ndarray | None:
    try:
        raw = np.array(rows)
    except (ValueError, TypeError, OverflowError):
        return None
    if raw.ndim != 2 or raw.shape[1] == 0 or raw.dtype.kind not in "biuf":
        return None
    return raw.astype(np.float64, copy=False)


def _slow_matrix(rows: list[Any], features: Features) -> np.ndarray:
    """Walk rows numpy refused, raising the precise error for the first bad value."""
    first_len: int | None = None
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise SchemaViolation(f"row {i}: expected a list of numbers, got {_json_type(row)}")
        if not row:
            raise InputError(f"row {i} is empty; send at least one feature")
        if first_len is None:
            first_len = len(row)
        elif len(row) != first_len:
            raise InputError(
                f"row {i} has {len(row)} features but row 0 has {first_len}; "
                "every row needs the same number of features"
            )
        for j, value in enumerate(row):
            name = f" ({features[j].name})" if features and j < len(features) else ""
            _number(value, f"row {i}, feature {j}{name}")
    return np.array(rows, dtype=np.float64)


def _named_rows(rows: list[Any], features: Sequence[FeatureSpec]) -> np.ndarray:
    names = [f.name for f in features]
    matrix = np.empty((len(rows), len(features)), dtype=np.float64)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise SchemaViolation(f"row {i}: expected an object with {', '.join(names)}")
        unknown = sorted(set(row) - set(names))
        if unknown:
            raise SchemaViolation(
                f"unknown field {unknown[0]!r}; expected: {', '.join(names)}", field=unknown[0]
            )
        for j, spec in enumerate(features):
            if spec.name not in row:
                raise SchemaViolation(f"missing field {spec.name!r}", field=spec.name)
            value = _number(row[spec.name], f"field {spec.name!r}", field=spec.name)
            matrix[i, j] = _check_feature(spec, value, i)
    return matrix


def _check_feature(spec: FeatureSpec, value: float, row: int) -> float:
    where = f"field {spec.name!r}" + (f" (row {row})" if row else "")
    if spec.type == "int" and not float(value).is_integer():
        raise SchemaViolation(f"{where} must be an integer, got {value}", field=spec.name)
    if spec.min is not None and value < spec.min:
        raise SchemaViolation(
            f"{where} must be >= {_fmt(spec.min)}, got {_fmt(value)}", field=spec.name
        )
    if spec.max is not None and value > spec.max:
        raise SchemaViolation(
            f"{where} must be <= {_fmt(spec.max)}, got {_fmt(value)}", field=spec.name
        )
    return value


def _number(value: Any, where: str, **detail: Any) -> float:
    if not isinstance(value, int | float):  # bool is an int: true/false count as 1/0
        raise SchemaViolation(
            f"{where}: expected a number, got {_json_type(value)}"
            + (f" {value!r}" if isinstance(value, str) else ""),
            **detail,
        )
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InputError(f"{where}: NaN and infinity are not allowed", **detail)
    return number


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _json_type(value: Any) -> str:
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
        int: "a number",
        float: "a number",
    }
    return names.get(type(value), type(value).__name__)
