"""Rows as Open Inference Protocol (V2) binary tensors, and V2 answers as /predict/batch's.

A 1,000-row chunk of 20 features is 160 kB of raw FP64 instead of about 400 kB of JSON
numbers, and the answer comes back as three binary tensors: the server neither parses nor
writes a JSON number. The client turns the answer into the very list of prediction dicts that
/predict/batch gives, so whoever reads it cannot tell which door it went through.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from mlserve import wire
from mlserve.errors import UnexpectedAnswer

BINARY_EXTENSION = "binary_tensor_data"  # as Triton and the V2 server metadata name it
CLASSIFIER_OUTPUTS = ("label", "confidence", "probabilities")


@dataclass(frozen=True)
class V2Target:
    """A model version as the V2 metadata describes it: what the client sends and reads."""

    path: str  # the version's infer route
    inputs: list[str]  # ["input"], or one tensor name per named feature, in model order
    label_keys: list[str] | None  # probability keys (labels as text); None for a regressor
    label_values: dict[str, Any] | None  # label text -> the label as /predict/batch gives it

    @classmethod
    def from_metadata(cls, path: str, metadata: dict[str, Any]) -> V2Target | None:
        """None when the model takes no numeric rows (text, images) or the metadata lacks
        what the answers need (an older server)."""
        inputs = metadata.get("inputs") or []
        if not inputs or any(i.get("datatype") == "BYTES" for i in inputs):
            return None
        outputs = {o.get("name"): o for o in metadata.get("outputs") or []}
        if "prediction" in outputs:
            return cls(path, [i["name"] for i in inputs], None, None)
        label = outputs.get("label") or {}
        texts, values = label.get("labels"), label.get("label_values")
        if not isinstance(texts, list) or not isinstance(values, list):
            return None
        return cls(path, [i["name"] for i in inputs], texts, dict(zip(texts, values, strict=True)))

    def request(self, rows: np.ndarray, columns: list[str] | None) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one infer request: binary inputs, binary outputs."""
        if columns is not None and self.inputs != ["input"]:
            named = [(name, np.ascontiguousarray(rows[:, j])) for j, name in enumerate(columns)]
        elif self.inputs == ["input"]:
            named = [("input", rows)]
        else:  # positional rows of a model with named features
            named = [(name, np.ascontiguousarray(rows[:, j])) for j, name in enumerate(self.inputs)]
        tensors, blobs = [], []
        for name, values in named:
            raw = np.ascontiguousarray(values, dtype="<f8").tobytes()
            tensors.append(
                {
                    "name": name,
                    "datatype": "FP64",
                    "shape": list(values.shape),
                    "parameters": {"binary_data_size": len(raw)},
                }
            )
            blobs.append(raw)
        header = orjson.dumps({"inputs": tensors, "parameters": {"binary_data_output": True}})
        headers = {
            "Content-Type": "application/octet-stream",
            wire.V2_HEADER_LENGTH: str(len(header)),
        }
        return b"".join([header, *blobs]), headers

    def predictions(self, body: bytes, header_length: str | None) -> list[dict[str, Any]]:
        """/predict/batch's `predictions` from a V2 answer with binary outputs."""
        outputs = _outputs(body, header_length)
        if self.label_keys is None:
            return [{"prediction": p} for p in _numeric(outputs, "prediction").tolist()]
        labels = _labels(outputs, self.label_values or {})
        if "probabilities" not in outputs:  # a classifier without probabilities
            return [{"prediction": p} for p in labels]
        confidences = _numeric(outputs, "confidence").tolist()
        probabilities = _numeric(outputs, "probabilities").tolist()
        if not len(labels) == len(confidences) == len(probabilities):
            raise UnexpectedAnswer("a V2 answer whose outputs have different numbers of rows")
        keys = self.label_keys
        return [  # lengths checked above: zip without strict, 25% cheaper per row
            {"prediction": p, "confidence": c, "probabilities": dict(zip(keys, row))}  # noqa: B905
            for p, c, row in zip(labels, confidences, probabilities)  # noqa: B905
        ]


def _outputs(body: bytes, header_length: str | None) -> dict[str, tuple[dict[str, Any], bytes]]:
    """Each output's header and raw bytes, checked to fit the body exactly."""
    if header_length is None or not header_length.isdigit() or int(header_length) > len(body):
        raise UnexpectedAnswer(f"a V2 answer without a valid {wire.V2_HEADER_LENGTH} header")
    split = int(header_length)
    try:
        header = orjson.loads(body[:split])
        tensors = header["outputs"]
        out, offset = {}, split
        for tensor in tensors:
            size = int(tensor["parameters"]["binary_data_size"])
            out[tensor["name"]] = (tensor, body[offset : offset + size])
            offset += size
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise UnexpectedAnswer(f"a V2 answer that is not binary tensors ({exc!r})") from None
    if offset != len(body):
        raise UnexpectedAnswer(f"a V2 answer with {len(body) - offset} bytes after its tensors")
    return out


def _numeric(outputs: dict[str, tuple[dict[str, Any], bytes]], name: str) -> np.ndarray:
    if name not in outputs:
        raise UnexpectedAnswer(f"a V2 answer without its {name!r} output")
    tensor, raw = outputs[name]
    values = np.frombuffer(raw, dtype="<f8")
    shape = [int(d) for d in tensor.get("shape", [])]
    if tensor.get("datatype") != "FP64" or values.size != int(np.prod(shape)):
        raise UnexpectedAnswer(f"a V2 answer whose {name!r} output is not FP64 {shape}")
    return values.reshape(shape)


def _labels(outputs: dict[str, tuple[dict[str, Any], bytes]], values: dict[str, Any]) -> list[Any]:
    """BYTES labels (a 4-byte length, then the text) as /predict/batch gives them."""
    if "label" not in outputs:
        raise UnexpectedAnswer("a V2 answer without its 'label' output")
    tensor, raw = outputs["label"]
    count = int(tensor.get("shape", [0])[0])
    try:
        same_width = _same_width_labels(raw, count)
        if same_width is not None:
            distinct, rows = same_width
            lookup = [values[text] for text in distinct]
            return [lookup[i] for i in rows.tolist()]
        return [values[text] for text in _unpacked(raw, count)]
    except KeyError as exc:
        raise UnexpectedAnswer(f"a V2 answer with a label the model does not have: {exc}") from None


def _same_width_labels(raw: bytes, count: int) -> tuple[list[str], np.ndarray] | None:
    """Where every label has the same length (0/1, yes/no, class names of one size): the
    distinct labels and each row's index into them, without a Python step per row."""
    if count == 0 or len(raw) % count or len(raw) // count < 4:
        return None
    width = len(raw) // count
    sizes = np.frombuffer(raw, dtype=np.uint8).reshape(count, width)[:, :4].copy().view("<u4")
    if not (sizes == width - 4).all():
        return None
    distinct, rows = np.unique(np.frombuffer(raw, dtype=f"V{width}"), return_inverse=True)
    return [bytes(d)[4:].decode() for d in distinct], rows.reshape(-1)


def _unpacked(raw: bytes, count: int) -> list[str]:
    texts, offset = [], 0
    while offset + 4 <= len(raw):
        (size,) = struct.unpack_from("<I", raw, offset)
        texts.append(raw[offset + 4 : offset + 4 + size].decode())
        offset += 4 + size
    if len(texts) != count or offset != len(raw):
        raise UnexpectedAnswer("a V2 answer whose 'label' output does not match its shape")
    return texts
