"""Open Inference Protocol (V2) requests: validated whole, then decoded to numpy arrays and
strings; outputs encoded as JSON or binary.

Every check happens here, before a model is looked up: types of `id`, `parameters` and
`outputs`; each input's name, datatype and shape (element counts in Python ints, so a huge
shape cannot wrap around); integer data within its datatype's range; binary framing exact
(every `binary_data_size` and BYTES length prefix inside the body, no byte left over).

Binary tensors follow the extension Triton and tritonclient use: the JSON header, then each
tensor's raw little-endian bytes; `Inference-Header-Content-Length` says where the JSON ends;
BYTES elements are a 4-byte length followed by the bytes.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from mlserve import wire
from mlserve.bodies import Body
from mlserve.engine.placement import leaves_loop
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
DATATYPES = (*NUMERIC, "BYTES")
HEADER = wire.V2_HEADER_LENGTH

Tensor = np.ndarray | list[str | bytes]


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool | None  # the output's own `binary_data`; None: the request's default


@dataclass(frozen=True)
class V2Request:
    """A validated inference request, its input tensors decoded."""

    id: str | None
    inputs: dict[str, Tensor]
    outputs: list[RequestedOutput] | None  # None: every output
    binary_output: bool  # `parameters.binary_data_output`

    def asked_for(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """The outputs this request asks for (every one, if it names none), in the model's
        order; a name the model has no output for is refused."""
        if self.outputs is None:
            return outputs
        unknown = [o.name for o in self.outputs if o.name not in outputs]
        if unknown:
            raise InputError(f"unknown output {unknown[0]!r}; outputs: {', '.join(outputs)}")
        wanted = {o.name for o in self.outputs}
        return {k: v for k, v in outputs.items() if k in wanted}

    def wants_binary(self, output: str) -> bool:
        for requested in self.outputs or []:
            if requested.name == output and requested.binary is not None:
                return requested.binary  # a per-output setting overrides the request's
        return self.binary_output


def costly_to_parse(body: Body, header_length: str | None) -> bool:
    """Whether parsing takes long enough to belong off the event loop: a big JSON part, or
    big binary data holding BYTES elements (unpacked one by one). Numeric binary tensors are
    views of the body, whatever their size."""
    split = int(header_length) if header_length and header_length.isdigit() else len(body)
    if leaves_loop(body_bytes=min(split, len(body))):
        return True
    return leaves_loop(body_bytes=len(body) - split) and b"BYTES" in bytes(memoryview(body)[:split])


def parse_request(body: Body, header_length: str | None) -> V2Request:
    """Split the body into JSON and binary parts, validate the JSON, decode every input.
    Binary tensors are views of the body, not copies."""
    split = len(body)
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise InputError(
                f"bad {HEADER} header {header_length[:40]!r}: not a length inside the body"
            )
        split = int(header_length)
    try:
        request = orjson.loads(memoryview(body)[:split])
    except orjson.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc}") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise SchemaViolation("a V2 request is an object with an 'inputs' list of tensors")
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise SchemaViolation("'id' must be a string")
    parameters = _parameters(request, "the request")
    binary_output = _flag(parameters, "binary_data_output", "the request")
    return V2Request(
        request_id,
        _inputs(request["inputs"], memoryview(body)[split:], max_elements=len(body)),
        _outputs(request.get("outputs")),
        bool(binary_output),
    )


def _parameters(holder: dict[str, Any], where: str) -> dict[str, Any]:
    parameters = holder.get("parameters", {})
    if not isinstance(parameters, dict):
        raise SchemaViolation(f"'parameters' of {where} must be an object")
    return parameters


def _flag(parameters: dict[str, Any], key: str, where: str) -> bool | None:
    value = parameters.get(key)
    if value is not None and not isinstance(value, bool):
        raise SchemaViolation(f"parameter {key!r} of {where} must be true or false")
    return value


def _outputs(outputs: Any) -> list[RequestedOutput] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list):
        raise SchemaViolation("'outputs' must be a list of {\"name\": ...} objects")
    requested: list[RequestedOutput] = []
    for i, item in enumerate(outputs):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise SchemaViolation(f"outputs[{i}] must be an object with a string 'name'")
        name = item["name"]
        if any(r.name == name for r in requested):
            raise InputError(f"output {name!r} is requested twice")
        binary = _flag(_parameters(item, f"output {name!r}"), "binary_data", f"output {name!r}")
        requested.append(RequestedOutput(name, binary))
    return requested


def _inputs(inputs: list[Any], binary: memoryview, max_elements: int) -> dict[str, Tensor]:
    if not inputs:
        raise InputError("'inputs' is empty; send at least one tensor")
    tensors: dict[str, Tensor] = {}
    offset = 0
    for i, tensor in enumerate(inputs):
        name, datatype, shape = _header(tensor, i)
        if name in tensors:
            raise InputError(f"input {name!r} appears twice")
        count = element_count(name, shape, max_elements)
        size = _parameters(tensor, f"input {name!r}").get("binary_data_size")
        if size is not None:
            if "data" in tensor:
                raise SchemaViolation(f"input {name!r} has both 'data' and binary_data_size")
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise SchemaViolation(f"input {name!r}: binary_data_size must be an integer >= 0")
            if offset + size > len(binary):
                raise InputError(f"input {name!r}: binary_data_size {size} runs past the body")
            tensors[name] = from_binary(
                name, datatype, shape, count, binary[offset : offset + size]
            )
            offset += size
        elif "data" in tensor:
            tensors[name] = _from_json(name, datatype, shape, count, tensor["data"])
        else:
            raise SchemaViolation(f"input {name!r} has no 'data' and no binary_data_size")
    if offset != len(binary):
        raise InputError(
            f"{len(binary) - offset} byte(s) of binary data follow the tensors; "
            "each input's binary_data_size must account for them"
        )
    return tensors


def element_count(name: str, shape: list[int], max_elements: int) -> int:
    """The elements a shape holds, refused when more than a request of `max_elements` bytes
    can carry; a dimension past that bound is refused too, even beside a 0 (numpy cannot
    shape an empty array [0, 2**62]). Python ints: a huge shape cannot wrap around."""
    count = math.prod(shape)
    if count > max_elements or any(d > max_elements for d in shape):
        raise InputError(
            f"input {name!r}: shape {shape} holds more than the {max_elements}-byte request "
            "can carry"
        )
    return count


def _header(tensor: Any, index: int) -> tuple[str, str, list[int]]:
    if not isinstance(tensor, dict):
        raise SchemaViolation(f"inputs[{index}] must be an object with name, shape, datatype, data")
    name, datatype, shape = tensor.get("name"), tensor.get("datatype"), tensor.get("shape")
    if not isinstance(name, str) or not name:
        raise SchemaViolation(f"inputs[{index}] needs a string 'name'")
    if not isinstance(datatype, str):
        raise SchemaViolation(f"input {name!r} needs a string 'datatype'")
    if datatype not in DATATYPES:
        raise SchemaViolation(
            f"input {name!r}: unsupported datatype {datatype[:20]!r}; use one of "
            f"{', '.join(DATATYPES)}"
        )
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise SchemaViolation(f"input {name!r}: 'shape' must be a list of integers >= 0")
    return name, datatype, shape


def from_binary(name: str, datatype: str, shape: list[int], count: int, raw: memoryview) -> Tensor:
    if datatype == "BYTES":
        return checked_count(name, shape, count, _unpack_bytes(name, raw))
    dtype = np.dtype(NUMERIC[datatype]).newbyteorder("<")
    if len(raw) != count * dtype.itemsize:
        raise InputError(
            f"input {name!r}: shape {shape} of {datatype} needs {count * dtype.itemsize} "
            f"bytes, binary_data_size says {len(raw)}"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _from_json(name: str, datatype: str, shape: list[int], count: int, data: Any) -> Tensor:
    items = _flatten(data, name)
    if datatype == "BYTES":
        if not all(isinstance(i, str) for i in items):
            raise InputError(f"input {name!r}: BYTES data must be strings")
        return checked_count(name, shape, count, items)
    checked_count(name, shape, count, items)
    return checked_numbers(name, datatype, items).reshape(shape)


def checked_numbers(name: str, datatype: str, items: list[Any]) -> np.ndarray:
    """JSON numbers -> an array of `datatype`, refusing strings, nulls and values out of its
    range (numpy alone would wrap 300 into a UINT8 44, or parse "1.5" as a number)."""
    dtype = np.dtype(NUMERIC[datatype])
    raw = np.asarray(items) if items else np.zeros(0, dtype=dtype)
    kind = raw.dtype.kind
    # Ints past int64 (UINT64 values from 2**63) make numpy choose object, or float64 when
    # smaller ints sit beside them (rounding them): keep them as Python ints.
    beyond_int64 = kind == "O" or (kind == "f" and all(type(i) is int for i in items))
    if beyond_int64 and all(isinstance(i, int | float) for i in items):
        kind = "i" if all(isinstance(i, int) for i in items) else "f"
        raw = np.asarray(items, dtype=object)
    allowed = {"b": "b", "i": "biu", "u": "biu", "f": "biuf"}[dtype.kind]
    if kind not in allowed:
        raise InputError(f"input {name!r}: data is not {datatype}")
    if raw.size and dtype.kind in "iu":
        limits = np.iinfo(dtype.type)  # type: ignore[type-var]
        low, high = int(raw.min()), int(raw.max())
        if low < limits.min or high > limits.max:
            bad = low if low < limits.min else high
            raise InputError(
                f"input {name!r}: {bad} is out of range for {datatype} "
                f"({limits.min} to {limits.max})"
            )
    if raw.size and dtype.kind == "f":
        largest = float(np.finfo(dtype).max)
        if float(np.abs(raw.astype(np.float64)).max()) > largest:
            raise InputError(
                f"input {name!r}: a value is out of range for {datatype} (|x| <= {largest:.4g})"
            )
    return raw.astype(dtype)


def checked_count(name: str, shape: list[int], count: int, items: list[Any]) -> list[Any]:
    if len(items) != count:
        raise InputError(f"input {name!r}: shape {shape} needs {count} elements, got {len(items)}")
    return items


MAX_DATA_NESTING = 32  # numpy's arrays have at most 64 dimensions; a tensor's data far fewer


def _flatten(data: Any, name: str = "") -> list[Any]:
    """The elements of nested lists in order, without recursion (a request is untrusted: 1,000
    levels of `[` were a RecursionError, a 500)."""
    if not isinstance(data, list):
        return [data]
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                if len(stack) >= MAX_DATA_NESTING:
                    raise InputError(
                        f"input {name!r}: data nested more than {MAX_DATA_NESTING} levels deep"
                    )
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def _unpack_bytes(name: str, raw: memoryview) -> list[bytes]:
    items, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InputError(f"input {name!r}: a BYTES length prefix is cut off")
        (length,) = struct.unpack_from("<I", raw, offset)
        if offset + 4 + length > len(raw):
            raise InputError(
                f"input {name!r}: a BYTES element claims {length} bytes, but only "
                f"{len(raw) - offset - 4} follow"
            )
        items.append(bytes(raw[offset + 4 : offset + 4 + length]))
        offset += 4 + length
    return items


@dataclass(frozen=True)
class Labels:
    """A classifier's labels as a BYTES output: few distinct values over many rows, so each
    distinct label is encoded once, not once per row."""

    texts: list[str]  # the distinct labels
    rows: np.ndarray  # each row's index into `texts`

    @classmethod
    def of(cls, values: np.ndarray) -> Labels:
        """From one label per row, in any type (ints, strings, objects)."""
        try:
            uniques, rows = np.unique(values, return_inverse=True)
        except TypeError:  # labels of mixed types do not sort together
            uniques, rows = np.unique(values.astype(str), return_inverse=True)
        return cls([str(u) for u in uniques], rows.reshape(-1))


OutputTensor = Tensor | Labels


def output_tensor(
    name: str, values: OutputTensor, binary: bool
) -> tuple[dict[str, Any], bytes | None]:
    """An output tensor's JSON form, or, when `binary`, its header and its raw bytes."""
    if isinstance(values, Labels):
        rows = values.rows
        tensor: dict[str, Any] = {"name": name, "datatype": "BYTES", "shape": [len(rows)]}
        if binary:
            return tensor, _framed_rows([t.encode() for t in values.texts], rows)
        tensor["data"] = np.asarray(values.texts, dtype=object)[rows].tolist()
        return tensor, None
    if isinstance(values, list):
        tensor = {"name": name, "datatype": "BYTES", "shape": [len(values)]}
        encoded = [v if isinstance(v, bytes) else v.encode() for v in values]
        if binary:
            return tensor, b"".join(struct.pack("<I", len(v)) + v for v in encoded)
        tensor["data"] = [v.decode("utf-8", "replace") for v in encoded]
        return tensor, None
    datatype = next(k for k, v in NUMERIC.items() if np.dtype(v) == values.dtype)
    tensor = {"name": name, "datatype": datatype, "shape": list(values.shape)}
    if binary:
        return tensor, np.ascontiguousarray(values, values.dtype.newbyteorder("<")).tobytes()
    tensor["data"] = values.reshape(-1).tolist()
    return tensor, None


def _framed_rows(distinct: list[bytes], rows: np.ndarray) -> bytes:
    """BYTES elements (4-byte length, then the bytes) for each row's distinct value."""
    framed = [struct.pack("<I", len(v)) + v for v in distinct]
    widths = {len(f) for f in framed}
    if len(widths) == 1:  # one width: each element is one fixed-size record, looked up
        records = np.frombuffer(b"".join(framed), dtype=f"V{widths.pop()}")
        raw: bytes = records[rows].tobytes()
        return raw
    return b"".join([framed[i] for i in rows.tolist()])
