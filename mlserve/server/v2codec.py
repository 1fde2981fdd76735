"""Open Inference Protocol (V2) tensors <-> numpy arrays and strings, JSON or binary.

Binary tensors follow the extension Triton and tritonclient use: the JSON header, then each
tensor's raw little-endian bytes; `Inference-Header-Content-Length` says where the JSON ends;
BYTES elements are a 4-byte length followed by the bytes.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

from mlserve.errors import InputError, SchemaViolation

NUMERIC = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
HEADER = "inference-header-content-length"


def parse_request(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """Split a request into its JSON part and the binary tensors after it."""
    split = len(body)
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise InputError(f"bad {HEADER} header: {header_length!r}")
        split = int(header_length)
    try:
        request = orjson.loads(body[:split])
    except orjson.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc}") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise SchemaViolation("a V2 request is an object with an 'inputs' list of tensors")
    return request, body[split:]


Tensor = np.ndarray | list[str | bytes]


def decode_inputs(request: dict[str, Any], binary: bytes) -> dict[str, Tensor]:
    """Every input tensor by name: numeric ones as arrays of their shape; BYTES as a list
    (str from JSON data, bytes from the binary part)."""
    tensors: dict[str, Tensor] = {}
    offset = 0
    for tensor in request["inputs"]:
        if not isinstance(tensor, dict):
            raise SchemaViolation("each input is an object with name, shape, datatype, data")
        name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
        if (
            not isinstance(name, str)
            or not isinstance(datatype, str)
            or not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape))
        ):
            raise SchemaViolation(
                "each input needs a name, a datatype and a shape of non-negative integers"
            )
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or offset + size > len(binary):
                raise InputError(f"input {name!r}: binary_data_size {size} is past the body")
            raw: Any = binary[offset : offset + size]
            offset += size
        elif "data" in tensor:
            raw = tensor["data"]
        else:
            raise SchemaViolation(f"input {name!r} has no data")
        tensors[name] = _tensor(name, datatype, shape, raw)
    return tensors


def _tensor(name: str, datatype: str, shape: list[int], raw: Any) -> Tensor:
    count = int(np.prod(shape)) if shape else 1
    if datatype == "BYTES":
        items = _unpack_bytes(raw) if isinstance(raw, bytes) else _flatten(raw)
        if len(items) != count:
            raise InputError(
                f"input {name!r}: shape {shape} needs {count} elements, got {len(items)}"
            )
        return [i if isinstance(i, bytes) else str(i) for i in items]
    dtype = NUMERIC.get(datatype)
    if dtype is None:
        raise SchemaViolation(
            f"input {name!r}: unsupported datatype {datatype!r}; use one of "
            f"{', '.join([*NUMERIC, 'BYTES'])}"
        )
    try:
        array = (
            np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
            if isinstance(raw, bytes)
            else np.asarray(_flatten(raw), dtype=dtype)
        )
    except (ValueError, TypeError):
        raise InputError(f"input {name!r}: data is not {datatype}") from None
    if array.size != count:
        raise InputError(f"input {name!r}: shape {shape} needs {count} elements, got {array.size}")
    return array.reshape(shape)


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    out: list[Any] = []
    for item in data:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


def _unpack_bytes(raw: bytes) -> list[bytes]:
    items, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InputError("BYTES tensor is truncated")
        (length,) = struct.unpack_from("<I", raw, offset)
        items.append(raw[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return items


def output_tensor(name: str, values: Tensor) -> tuple[dict[str, Any], bytes]:
    """A JSON output tensor and its binary form (used when the client asks for binary)."""
    if isinstance(values, list):
        encoded = [v if isinstance(v, bytes) else v.encode() for v in values]
        raw = b"".join(struct.pack("<I", len(v)) + v for v in encoded)
        text = [v.decode("utf-8", "replace") for v in encoded]
        return {"name": name, "datatype": "BYTES", "shape": [len(values)], "data": text}, raw
    datatype = next(k for k, v in NUMERIC.items() if np.dtype(v) == values.dtype)
    return (
        {
            "name": name,
            "datatype": datatype,
            "shape": list(values.shape),
            "data": values.reshape(-1).tolist(),
        },
        values.astype(values.dtype.newbyteorder("<")).tobytes(),
    )
