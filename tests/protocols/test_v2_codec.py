"""The V2 request codec: every malformed request is refused with a clear error before any
model runs (each case was a 500 or a silent acceptance before)."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson
import pytest

from mlserve.errors import InputError, SchemaViolation
from mlserve.protocols.v2.codec import parse_request

pytestmark = pytest.mark.unit


def tensor(**overrides: Any) -> dict[str, Any]:
    return {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4], **overrides}


def request(**overrides: Any) -> bytes:
    return orjson.dumps({"inputs": [tensor()], **overrides})


def raw(text: str) -> bytes:
    return text.encode()


@pytest.mark.parametrize(
    ("body", "error", "needle"),
    [
        (
            request(inputs=[tensor(datatype="UINT8", data=[300, 1, 2, 3])]),
            InputError,
            "300 is out of range for UINT8",
        ),
        (
            request(inputs=[tensor(datatype="INT8", data=[1000, 1, 2, 3])]),
            InputError,
            "out of range for INT8",
        ),
        (
            raw(
                '{"inputs":[{"name":"input","shape":[1,4],"datatype":"INT64","data":[1180591620717411303424,1,2,3]}]}'
            ),
            InputError,
            "INT64",
        ),
        (
            request(inputs=[tensor(datatype="FP32", data=[1e39, 1, 2, 3])]),
            InputError,
            "out of range for FP32",
        ),
        (request(inputs=[tensor(shape=[2**62, 4], data=[])]), InputError, "more than the"),
        # empty, but no array can have that shape (numpy: "array is too big"): not a 500
        (request(inputs=[tensor(shape=[0, 2**62], data=[])]), InputError, "more than the"),
        (
            request(inputs=[tensor(shape=[True, 4])]),
            SchemaViolation,
            "'shape' must be a list of integers",
        ),
        (
            request(inputs=[tensor(shape=[-1, 4])]),
            SchemaViolation,
            "'shape' must be a list of integers",
        ),
        (request(parameters=[1]), SchemaViolation, "'parameters' of the request must be an object"),
        (
            request(inputs=[tensor(parameters="x")]),
            SchemaViolation,
            "'parameters' of input 'input'",
        ),
        (
            request(outputs=[{"name": "label", "parameters": 3}]),
            SchemaViolation,
            "'parameters' of output 'label'",
        ),
        (request(outputs=[{"name": 5}]), SchemaViolation, "string 'name'"),
        (request(outputs=[5]), SchemaViolation, "string 'name'"),
        (request(outputs={"name": "label"}), SchemaViolation, "'outputs' must be a list"),
        (request(outputs=[{"name": "label"}, {"name": "label"}]), InputError, "requested twice"),
        (request(id=5), SchemaViolation, "'id' must be a string"),
        (request(parameters={"binary_data_output": "yes"}), SchemaViolation, "true or false"),
        (request(inputs=[tensor(data=["a", 1, 2, 3])]), InputError, "not FP32"),
        (request(inputs=[tensor(data=["1.5", 1, 2, 3])]), InputError, "not FP32"),
        (request(inputs=[tensor(datatype="BOOL", data=[1, 0, 1, 0])]), InputError, "not BOOL"),
        (request(inputs=[tensor(datatype="FP8")]), SchemaViolation, "unsupported datatype"),
        (request(inputs=[tensor(), tensor()]), InputError, "appears twice"),
        (request(inputs=[]), InputError, "'inputs' is empty"),
        (request(inputs=[tensor(data=[1, 2, 3])]), InputError, "needs 4 elements, got 3"),
        (
            request(inputs=[tensor(datatype="BYTES", shape=[1], data=[3])]),
            InputError,
            "must be strings",
        ),
        (
            request(inputs=[{"name": "input", "shape": [1, 4], "datatype": "FP32"}]),
            SchemaViolation,
            "no 'data'",
        ),
    ],
)
def test_malformed_json_requests_are_refused(
    body: bytes, error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=None) as caught:
        parse_request(body, None)
    assert type(caught.value) is error
    assert needle in str(caught.value)


def binary_request(
    size: int, datatype: str = "FP32", shape: list[int] | None = None
) -> tuple[bytes, str]:
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": shape or [1, 4],
                    "datatype": datatype,
                    "parameters": {"binary_data_size": size},
                }
            ]
        }
    )
    return header, str(len(header))


def test_binary_framing_is_checked_exactly() -> None:
    values = np.arange(4, dtype="<f4").tobytes()
    header, length = binary_request(16)
    parsed = parse_request(header + values, length)
    assert parsed.inputs["input"].tolist() == [[0, 1, 2, 3]]  # type: ignore[union-attr]
    with pytest.raises(InputError, match="follow the tensors"):
        parse_request(header + values + b"xx", length)  # bytes nobody accounted for
    header, length = binary_request(12)
    with pytest.raises(InputError, match="needs 16 bytes"):
        parse_request(header + values[:12], length)
    header, length = binary_request(-1)
    with pytest.raises(SchemaViolation, match="binary_data_size must be an integer >= 0"):
        parse_request(header + values, length)
    header, length = binary_request(32)
    with pytest.raises(InputError, match="runs past the body"):
        parse_request(header + values, length)
    with pytest.raises(InputError, match="bad inference-header-content-length"):
        parse_request(header + values, "999999")


def test_a_bytes_length_prefix_longer_than_its_data_is_refused() -> None:
    element = struct.pack("<I", 100) + b"short"
    header, length = binary_request(len(element), "BYTES", [1])
    with pytest.raises(InputError, match="claims 100 bytes, but only 5 follow"):
        parse_request(header + element, length)
    good = struct.pack("<I", 5) + b"hello"
    header, length = binary_request(len(good), "BYTES", [1])
    assert parse_request(header + good, length).inputs["input"] == [b"hello"]


def test_a_per_output_binary_flag_overrides_the_request_default() -> None:
    parsed = parse_request(
        request(
            parameters={"binary_data_output": True},
            outputs=[
                {"name": "label", "parameters": {"binary_data": False}},
                {"name": "confidence"},
            ],
        ),
        None,
    )
    assert not parsed.wants_binary("label")
    assert parsed.wants_binary("confidence")
    assert parsed.id is None


def test_uint64_values_past_int64_beside_small_ones_stay_exact() -> None:
    # numpy reads [2**63, 1] as float64 (2**63 + 1 would round): kept as integers instead
    body = request(inputs=[tensor(shape=[3], datatype="UINT64", data=[2**63 + 1, 1, 2**64 - 1])])
    decoded = parse_request(body, None).inputs["input"]
    assert isinstance(decoded, np.ndarray)
    assert decoded.dtype == np.uint64
    assert decoded.tolist() == [2**63 + 1, 1, 2**64 - 1]
