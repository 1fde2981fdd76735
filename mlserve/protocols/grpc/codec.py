"""The Open Inference Protocol's gRPC messages to and from the V2 codec's types: a
`ModelInferRequest` becomes the same validated `V2Request` a REST body does, and outputs
become a `ModelInferResponse` with every output's bytes in `raw_output_contents` (what Triton
answers and tritonclient reads).

Inputs come either all as `raw_input_contents` (one entry per input, in order: numbers as
little-endian bytes, BYTES as 4-byte length prefixes) or all as typed `contents`; every
check of the REST codec applies (datatype, shape, element count, integer range). Nothing here
knows gRPC itself (only its messages), so the front door renders errors.
"""

from __future__ import annotations

from typing import Any

from mlserve.errors import InputError, SchemaViolation
from mlserve.protocols.grpc._generated import grpc_service_pb2 as pb
from mlserve.protocols.v2.codec import (
    DATATYPES,
    OutputTensor,
    RequestedOutput,
    Tensor,
    V2Request,
    checked_count,
    checked_numbers,
    element_count,
    from_binary,
    output_tensor,
)

# The typed field of InferTensorContents that carries each datatype (FP16 has none: it
# travels as raw bytes only).
CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def decode_request(request: pb.ModelInferRequest) -> V2Request:
    """Validate `request` whole and decode its inputs (raw ones as views, not copies)."""
    if not request.inputs:
        raise InputError("'inputs' is empty; send at least one tensor")
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InputError(
            f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs: send raw "
            "contents for every input, in order, or for none"
        )
    # No shape may claim more elements than the message holds (a bound, cheap to take; the
    # exact byte count of each raw tensor is checked as it is decoded).
    budget = max(sum(map(len, raw)), 1024) if raw else request.ByteSize()
    tensors: dict[str, Tensor] = {}
    for index, tensor in enumerate(request.inputs):
        name, shape, count = _header(tensor, budget)
        if name in tensors:
            raise InputError(f"input {name!r} appears twice")
        if raw:
            if tensor.HasField("contents"):
                raise SchemaViolation(f"input {name!r} has both contents and raw_input_contents")
            tensors[name] = from_binary(name, tensor.datatype, shape, count, memoryview(raw[index]))
        else:
            tensors[name] = _from_contents(name, tensor.datatype, shape, count, tensor.contents)
    binary = _flag(request.parameters, "binary_data_output", "the request")
    return V2Request(
        request.id or None,
        tensors,
        _requested(request.outputs),
        binary_output=True if binary is None else binary,
    )


def _flag(parameters: Any, key: str, where: str) -> bool | None:
    """A bool parameter, if set (InferParameter's bool_param)."""
    if key not in parameters:
        return None
    parameter = parameters[key]
    if parameter.WhichOneof("parameter_choice") != "bool_param":
        raise SchemaViolation(f"parameter {key!r} of {where} must be a bool_param")
    return bool(parameter.bool_param)


def _header(tensor: Any, budget: int) -> tuple[str, list[int], int]:
    name = tensor.name
    if not name:
        raise SchemaViolation("every input needs a 'name'")
    if tensor.datatype not in DATATYPES:
        raise SchemaViolation(
            f"input {name!r}: unsupported datatype {tensor.datatype[:20]!r}; use one of "
            f"{', '.join(DATATYPES)}"
        )
    shape = [int(d) for d in tensor.shape]
    if any(d < 0 for d in shape):
        raise SchemaViolation(f"input {name!r}: 'shape' must be integers >= 0, got {shape}")
    return name, shape, element_count(name, shape, budget)


def _from_contents(name: str, datatype: str, shape: list[int], count: int, contents: Any) -> Tensor:
    field = CONTENTS_FIELD.get(datatype)
    if field is None:
        raise SchemaViolation(f"input {name!r}: {datatype} travels as raw_input_contents only")
    others = [f.name for f, _ in contents.ListFields() if f.name != field]
    if others:
        raise SchemaViolation(f"input {name!r} is {datatype}, but sets {others[0]}")
    values = list(getattr(contents, field))
    if datatype == "BYTES":
        return checked_count(name, shape, count, values)
    checked_count(name, shape, count, values)
    return checked_numbers(name, datatype, values).reshape(shape)


def _requested(outputs: Any) -> list[RequestedOutput] | None:
    if not outputs:
        return None
    requested: list[RequestedOutput] = []
    for output in outputs:
        if not output.name:
            raise SchemaViolation("every requested output needs a 'name'")
        if any(r.name == output.name for r in requested):
            raise InputError(f"output {output.name!r} is requested twice")
        binary = _flag(output.parameters, "binary_data", f"output {output.name!r}")
        requested.append(RequestedOutput(output.name, binary))
    return requested


def encode_response(
    model: str, version: str, request: V2Request, outputs: dict[str, OutputTensor]
) -> pb.ModelInferResponse:
    """The outputs the request asked for (all, if it named none): as raw bytes, what Triton
    answers, unless every one of them was asked as typed `contents` (`binary_data: false`
    per output, or `binary_data_output: false`): the protocol allows raw contents for all
    outputs or for none."""
    outputs = request.asked_for(outputs)
    raw_contents = any(request.wants_binary(name) for name in outputs)
    response = pb.ModelInferResponse(model_name=model, model_version=version, id=request.id or "")
    for name, values in outputs.items():
        header, raw = output_tensor(name, values, raw_contents)
        tensor = response.outputs.add(name=name, datatype=header["datatype"], shape=header["shape"])
        if raw is not None:
            response.raw_output_contents.append(raw)
        else:
            if header["datatype"] not in CONTENTS_FIELD:
                raise InputError(f"output {name!r} is {header['datatype']}: ask for it raw")
            data = header["data"]
            if header["datatype"] == "BYTES":
                data = [d.encode() if isinstance(d, str) else d for d in data]
            getattr(tensor.contents, CONTENTS_FIELD[header["datatype"]]).extend(data)
    return response
