"""The client's V2 binary tensors: requests the server's codec reads back, answers decoded
into /predict/batch's predictions, and malformed answers refused (never half-read)."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson
import pytest

from mlserve import wire
from mlserve.client.tensors import Predictions, V2Target
from mlserve.errors import UnexpectedAnswer
from mlserve.protocols.v2.codec import Labels, output_tensor, parse_request
from mlserve.runtimes._base import BatchPrediction, ChosenLabels

pytestmark = pytest.mark.unit
CLASSIFIER = {
    "inputs": [{"name": "input", "datatype": "FP64", "shape": [-1, 3]}],
    "outputs": [
        {"name": "label", "datatype": "BYTES", "shape": [-1], "labels": ["1", "22", "x"],
         "label_values": [1, 22, "x"]},
        {"name": "confidence", "datatype": "FP64", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3], "labels": ["1", "22", "x"]},
    ],
}  # fmt: skip
NAMED = {
    "inputs": [{"name": n, "datatype": "FP64", "shape": [-1]} for n in ("age", "income")],
    "outputs": [{"name": "prediction", "datatype": "FP64", "shape": [-1]}],
}


def answer(outputs: dict[str, Any]) -> tuple[bytes, str]:
    """A binary V2 answer, encoded by the server's own codec."""
    tensors, blobs = [], []
    for name, values in outputs.items():
        tensor, raw = output_tensor(name, values, binary=True)
        assert raw is not None
        tensors.append({**tensor, "parameters": {"binary_data_size": len(raw)}})
        blobs.append(raw)
    header = orjson.dumps({"model_name": "m", "outputs": tensors})
    return header + b"".join(blobs), str(len(header))


def classifier_answer(chosen: list[int], probabilities: np.ndarray) -> tuple[bytes, str]:
    positions = np.array(chosen, dtype=np.intp)
    result = BatchPrediction(ChosenLabels(positions, [1, 22, "x"]), probabilities)
    return answer(
        {
            "label": Labels(["1", "22", "x"], positions),
            "confidence": result.confidences(),
            "probabilities": probabilities,
        }
    )


def test_the_server_reads_the_request_back() -> None:
    target = V2Target.from_metadata("/v2/models/m/versions/v1/infer", CLASSIFIER)
    assert target is not None
    rows = np.arange(12, dtype=np.float64).reshape(4, 3)
    body, headers = target.request(rows, None)
    parsed = parse_request(body, headers[wire.V2_HEADER_LENGTH])
    assert np.array_equal(parsed.inputs["input"], rows)
    assert parsed.binary_output


def numeric(tensor: object) -> np.ndarray:
    assert isinstance(tensor, np.ndarray), tensor  # not a BYTES tensor's list
    return tensor


def test_named_features_go_as_one_tensor_each_in_the_columns_order() -> None:
    target = V2Target.from_metadata("/x", NAMED)
    assert target is not None
    rows = np.array([[50000.0, 41.0], [1000.0, 30.0]])
    body, headers = target.request(rows, ["income", "age"])
    parsed = parse_request(body, headers[wire.V2_HEADER_LENGTH])
    assert numeric(parsed.inputs["age"]).tolist() == [41.0, 30.0]
    assert numeric(parsed.inputs["income"]).tolist() == [50000.0, 1000.0]
    positional, headers = target.request(rows[:, ::-1], None)  # model order: age, income
    again = parse_request(positional, headers[wire.V2_HEADER_LENGTH])
    assert numeric(again.inputs["age"]).tolist() == [41.0, 30.0]


@pytest.mark.parametrize("chosen", [[0, 0, 1, 2, 1], [1, 1, 1], [2], []])
def test_labels_of_mixed_widths_keep_their_types(chosen: list[int]) -> None:
    target = V2Target.from_metadata("/x", CLASSIFIER)
    assert target is not None
    rng = np.random.default_rng(len(chosen))
    probabilities = rng.dirichlet(np.ones(3), size=len(chosen))
    probabilities[np.arange(len(chosen)), chosen] += 1  # the chosen label is the most likely
    predictions = target.predictions(*classifier_answer(chosen, probabilities))
    assert [p["prediction"] for p in predictions] == [[1, 22, "x"][i] for i in chosen]
    for p, row in zip(predictions, probabilities, strict=True):
        assert p["probabilities"] == dict(zip(["1", "22", "x"], row.tolist(), strict=True))
        assert p["confidence"] == max(row)


def test_a_regressor_answer() -> None:
    target = V2Target.from_metadata("/x", NAMED)
    assert target is not None
    values = np.array([1.5, -2.25, 3e300])
    assert target.predictions(*answer({"prediction": values})) == [
        {"prediction": v} for v in values.tolist()
    ]


def test_text_and_image_models_are_not_v2_targets() -> None:
    text = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}], "outputs": []}
    assert V2Target.from_metadata("/x", text) is None
    older = {**CLASSIFIER, "outputs": [{"name": "label", "datatype": "BYTES", "shape": [-1]}]}
    assert V2Target.from_metadata("/x", older) is None  # no label values: cannot answer alike


def corruptions(body: bytes, header: str) -> list[tuple[bytes, str | None]]:
    split = int(header)
    meta = orjson.loads(body[:split])
    wrong_shape = {**meta, "outputs": [{**meta["outputs"][1], "shape": [7]}, *meta["outputs"][2:]]}
    unknown = body[:split] + struct.pack("<I", 1) + b"q" + body[split + 5 :]
    return [
        (body, None),  # no header length
        (body, "x"),
        (body, str(len(body) + 1)),
        (body[:-1], header),  # cut short
        (body + b"\0", header),  # bytes after the tensors
        (b"[" + body[1:], header),  # not JSON
        (orjson.dumps(wrong_shape) + body[split:], str(len(orjson.dumps(wrong_shape)))),
        (unknown, header),  # a label the model does not have
    ]


@pytest.mark.parametrize("case", range(8))
def test_malformed_answers_are_refused(case: int) -> None:
    target = V2Target.from_metadata("/x", CLASSIFIER)
    assert target is not None
    good = classifier_answer([0, 1], np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]]))
    body, header = corruptions(*good)[case]
    with pytest.raises(UnexpectedAnswer):
        target.predictions(body, header)


@pytest.mark.parametrize(
    "predictions",
    [
        Predictions(
            [1, 'x\n"y', True, 2.5],
            np.array([0, 1, 2, 3, 1], dtype=np.intp),
            np.array([0.5, 1 / 3, 1e-300, 0.0, 2 / 3]),
            np.array([[0.5, 0.25], [1 / 3, 2 / 3], [1e-300, 1.0], [0.0, -0.0], [2 / 3, 0.1]]),
            ["a", "b\u00e9"],
        ),
        Predictions(["no", "yes"], np.array([1, 0, 1], dtype=np.intp)),
        Predictions(values=np.array([1.5, -2.0, 1e22, 5e-324, -0.0])),
        Predictions(values=np.array([])),
    ],
    ids=["classifier", "no-probabilities", "regressor", "empty"],
)
def test_json_lines_from_columns_equal_orjson_of_each_dict(predictions: Predictions) -> None:
    expected = b"".join(
        orjson.dumps({"row": 40 + i, **p}, option=orjson.OPT_APPEND_NEWLINE)
        for i, p in enumerate(predictions.dicts())
    )
    assert predictions.jsonl(40) == expected
