"""Feature decoding: the fast numpy path and the precise errors of the slow path."""

from __future__ import annotations

import numpy as np
import pytest

from mlserve.config.schema import FeatureSpec, LimitsSpec
from mlserve.errors import InputError, LimitExceeded, SchemaViolation
from mlserve.inputs.tabular import batch_rows, single_row

pytestmark = pytest.mark.unit

LIMITS = LimitsSpec()
CREDIT = [
    FeatureSpec(name="age", type="int", min=18, max=100),
    FeatureSpec(name="income", min=0),
    FeatureSpec(name="credit_score", type="int", min=300, max=850),
]


def test_rows_become_one_float_matrix() -> None:
    matrix = batch_rows({"inputs": [[1, 2.5], [3, 4]]}, 2, None, LIMITS)
    assert matrix.dtype == np.float64
    assert matrix.tolist() == [[1.0, 2.5], [3.0, 4.0]]
    assert single_row({"features": [1, 2]}, 2, None, LIMITS).shape == (1, 2)


@pytest.mark.parametrize(
    ("rows", "error", "needle"),
    [
        ([[1, 2], [3]], InputError, "row 1 has 1 features but row 0 has 2"),
        ([[1, "x"]], SchemaViolation, "row 0, feature 1: expected a number, got a string 'x'"),
        ([[1, None]], SchemaViolation, "got null"),
        ([[1, [2]]], SchemaViolation, "got a list"),
        ([[]], InputError, "row 0 is empty"),
        ([1, 2], SchemaViolation, "row 0: expected a list of numbers"),
        ([[1, 2, 3]], InputError, "expected 2 features, got 3"),
        ([[1, 10**30]], None, None),
    ],
)
def test_bad_rows(rows: list[object], error: type[Exception] | None, needle: str | None) -> None:
    if error is None:
        assert batch_rows({"inputs": rows}, 2, None, LIMITS).shape == (1, 2)
        return
    with pytest.raises(error) as info:
        batch_rows({"inputs": rows}, 2, None, LIMITS)
    assert needle is not None
    assert needle in str(info.value)


def test_booleans_count_as_one_and_zero() -> None:
    assert batch_rows({"inputs": [[1, True], [False, 2]]}, 2, None, LIMITS).tolist() == [
        [1.0, 1.0],
        [0.0, 2.0],
    ]


def test_huge_ints_beyond_float_are_rejected() -> None:
    with pytest.raises(InputError, match="NaN and infinity"):
        batch_rows({"inputs": [[1, 10**400]]}, 2, None, LIMITS)


def test_values_beyond_float32_are_out_of_range() -> None:
    with pytest.raises(InputError, match=r"row 0, feature 1: 1e\+196 is out of range"):
        batch_rows({"inputs": [[1, 1e196]]}, 2, None, LIMITS)


def test_limits() -> None:
    small = LimitsSpec(max_batch_rows=2, max_features=3)
    with pytest.raises(LimitExceeded, match="3 rows in one request; the limit is 2"):
        batch_rows({"inputs": [[1]] * 3}, None, None, small)
    with pytest.raises(LimitExceeded, match="4 features per row; the limit is 3"):
        batch_rows({"inputs": [[1, 2, 3, 4]]}, None, None, small)


def test_named_features_types_bounds_and_columns() -> None:
    row = single_row({"age": 42, "income": 5e4, "credit_score": 700}, 3, CREDIT, LIMITS)
    assert row.tolist() == [[42.0, 50000.0, 700.0]]
    with pytest.raises(SchemaViolation, match=r"'age' must be an integer, got 42\.5"):
        single_row({"age": 42.5, "income": 1, "credit_score": 700}, 3, CREDIT, LIMITS)
    with pytest.raises(SchemaViolation, match="'credit_score' must be >= 300, got 10"):
        single_row({"features": [42, 1, 10]}, 3, CREDIT, LIMITS)
    reordered = batch_rows(
        {"columns": ["income", "credit_score", "age"], "inputs": [[5e4, 700, 42]]},
        3,
        CREDIT,
        LIMITS,
    )
    assert reordered.tolist() == [[42.0, 50000.0, 700.0]]
    with pytest.raises(SchemaViolation, match="missing column 'age'"):
        batch_rows({"columns": ["income", "credit_score"], "inputs": [[1, 700]]}, 3, CREDIT, LIMITS)
    with pytest.raises(SchemaViolation, match="field 'age' \\(row 1\\) must be <= 100"):
        batch_rows({"inputs": [[42, 1, 700], [120, 1, 700]]}, 3, CREDIT, LIMITS)
