"""The gRPC codec: a ModelInferRequest decodes to the same tensors a REST body does, or is
refused as bad input, whatever its shapes, datatypes and contents (hypothesis over the
message's fields); never another exception."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlserve.errors import InputError
from mlserve.protocols.grpc._generated import grpc_service_pb2 as pb
from mlserve.protocols.grpc.codec import CONTENTS_FIELD, decode_request, encode_response
from mlserve.protocols.v2.codec import DATATYPES, NUMERIC, Labels, OutputTensor

pytestmark = pytest.mark.unit

Tensor = pb.ModelInferRequest.InferInputTensor
NAMES = st.sampled_from(["input", "text", "age", "", "x" * 300])
DATATYPE = st.one_of(st.sampled_from(DATATYPES), st.text(max_size=8))
SHAPE = st.lists(st.integers(min_value=-3, max_value=2**40), max_size=4)


@st.composite
def requests(draw: Any) -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name="m", id=draw(st.text(max_size=5)))
    raw = draw(st.booleans())
    for _ in range(draw(st.integers(0, 3))):
        tensor = message.inputs.add(name=draw(NAMES), datatype=draw(DATATYPE), shape=draw(SHAPE))
        if raw:
            message.raw_input_contents.append(draw(st.binary(max_size=64)))
        elif draw(st.booleans()):
            field = draw(st.sampled_from(sorted(set(CONTENTS_FIELD.values()))))
            values: Any = {
                "bool_contents": st.lists(st.booleans(), max_size=8),
                "bytes_contents": st.lists(st.binary(max_size=8), max_size=8),
                "fp32_contents": st.lists(st.floats(width=32), max_size=8),
                "fp64_contents": st.lists(st.floats(), max_size=8),
                "uint_contents": st.lists(st.integers(0, 2**32 - 1), max_size=8),
                "uint64_contents": st.lists(st.integers(0, 2**64 - 1), max_size=8),
                "int_contents": st.lists(st.integers(-(2**31), 2**31 - 1), max_size=8),
                "int64_contents": st.lists(st.integers(-(2**63), 2**63 - 1), max_size=8),
            }[field]
            getattr(tensor.contents, field).extend(draw(values))
    if draw(st.booleans()):
        message.outputs.add(name=draw(NAMES))
    return message


@settings(max_examples=400, deadline=None)
@given(requests())
def test_any_message_decodes_or_is_refused_as_bad_input(message: pb.ModelInferRequest) -> None:
    try:
        decoded = decode_request(message)
    except InputError:
        return
    assert set(decoded.inputs) == {t.name for t in message.inputs}


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from([d for d in NUMERIC if d not in ("FP16", "BOOL")]),
    st.integers(1, 5),
    st.integers(1, 4),
    st.randoms(use_true_random=False),
)
def test_raw_and_typed_contents_decode_alike(
    datatype: str, rows: int, columns: int, rng: Any
) -> None:
    dtype = np.dtype(NUMERIC[datatype])
    info = np.iinfo(dtype) if dtype.kind in "iu" else None  # type: ignore[type-var]
    values = [
        rng.randint(int(info.min), int(info.max)) if info else rng.uniform(-1e3, 1e3)
        for _ in range(rows * columns)
    ]
    array = np.asarray(values, dtype=dtype).reshape(rows, columns)
    raw = pb.ModelInferRequest(
        inputs=[Tensor(name="input", datatype=datatype, shape=[rows, columns])],
        raw_input_contents=[array.astype(dtype.newbyteorder("<")).tobytes()],
    )
    typed = pb.ModelInferRequest(
        inputs=[Tensor(name="input", datatype=datatype, shape=[rows, columns])]
    )
    getattr(typed.inputs[0].contents, CONTENTS_FIELD[datatype]).extend(array.reshape(-1).tolist())
    from_raw = decode_request(raw).inputs["input"]
    from_typed = decode_request(typed).inputs["input"]
    assert isinstance(from_raw, np.ndarray)
    assert isinstance(from_typed, np.ndarray)
    assert np.array_equal(from_raw, from_typed)
    assert np.array_equal(from_raw, array)


def test_every_output_is_raw_and_only_the_ones_asked_for() -> None:
    request = decode_request(
        pb.ModelInferRequest(
            inputs=[Tensor(name="input", datatype="FP64", shape=[0, 4])],
            raw_input_contents=[b""],
            outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="label")],
        )
    )
    labels = Labels(["a", "b"], np.array([1, 0]))
    outputs: dict[str, OutputTensor] = {"label": labels, "confidence": np.array([0.9, 0.8])}
    response = encode_response("m", "v1", request, outputs)
    assert [o.name for o in response.outputs] == ["label"]
    assert response.outputs[0].shape == [2]
    assert response.raw_output_contents[0] == b"\x01\x00\x00\x00b\x01\x00\x00\x00a"
    unasked = decode_request(
        pb.ModelInferRequest(
            inputs=[Tensor(name="input", datatype="FP64", shape=[0, 4])],
            raw_input_contents=[b""],
            outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="nope")],
        )
    )
    with pytest.raises(InputError, match="unknown output 'nope'"):
        encode_response("m", "v1", unasked, outputs)


def infer_parameters(**flags: bool) -> dict[str, Any]:
    return {key: pb.InferParameter(bool_param=value) for key, value in flags.items()}


def test_typed_contents_when_every_output_asks_for_them() -> None:
    labels = Labels(["a", "b"], np.array([1, 0]))
    outputs: dict[str, OutputTensor] = {"label": labels, "confidence": np.array([0.9, 0.8])}
    empty = Tensor(name="input", datatype="FP64", shape=[0, 4])
    requested = pb.ModelInferRequest.InferRequestedOutputTensor

    typed = decode_request(
        pb.ModelInferRequest(
            inputs=[empty],
            raw_input_contents=[b""],
            parameters=infer_parameters(binary_data_output=False),
        )
    )
    response = encode_response("m", "v1", typed, outputs)
    assert not response.raw_output_contents
    assert list(response.outputs[0].contents.bytes_contents) == [b"b", b"a"]
    assert list(response.outputs[1].contents.fp64_contents) == [0.9, 0.8]

    per_output = [
        requested(name=name, parameters=infer_parameters(binary_data=False))
        for name in ("label", "confidence")
    ]
    all_typed = decode_request(
        pb.ModelInferRequest(inputs=[empty], raw_input_contents=[b""], outputs=per_output)
    )
    assert not encode_response("m", "v1", all_typed, outputs).raw_output_contents

    one_raw = [per_output[0], requested(name="confidence")]  # raw for all, or for none
    mixed = decode_request(
        pb.ModelInferRequest(inputs=[empty], raw_input_contents=[b""], outputs=one_raw)
    )
    assert len(encode_response("m", "v1", mixed, outputs).raw_output_contents) == 2

    not_a_bool = {"binary_data_output": pb.InferParameter(string_param="no")}
    with pytest.raises(InputError, match="must be a bool_param"):
        decode_request(
            pb.ModelInferRequest(inputs=[empty], raw_input_contents=[b""], parameters=not_a_bool)
        )
