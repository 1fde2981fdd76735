"""Rows as Open Inference Protocol (V2) binary tensors, and V2 answers as /predict/batch's.

A 1,000-row chunk of 20 features is 160 kB of raw FP64 instead of about 400 kB of JSON
numbers, and the answer comes back as three binary tensors: the server neither parses nor
writes a JSON number. The client turns the answer into the very list of prediction dicts that
/predict/batch gives, so whoever reads it cannot tell which door it went through.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, overload

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

    def predictions(self, body: bytes, header_length: str | None) -> Predictions:
        """The batch route's `predictions`, from a V2 answer with binary outputs."""
        outputs = _outputs(body, header_length)
        if self.label_keys is None:
            return Predictions(values=_numeric(outputs, "prediction"))
        distinct, rows = _labels(outputs, self.label_values or {})
        if "probabilities" not in outputs:  # a classifier without probabilities
            return Predictions(distinct=distinct, rows=rows)
        confidences = _numeric(outputs, "confidence")
        probabilities = _numeric(outputs, "probabilities")
        if not len(rows) == len(confidences) == len(probabilities):
            raise UnexpectedAnswer("a V2 answer whose outputs have different numbers of rows")
        if probabilities.ndim != 2 or probabilities.shape[1] != len(self.label_keys):
            raise UnexpectedAnswer("a V2 answer whose probabilities do not match the labels")
        return Predictions(distinct, rows, confidences, probabilities, self.label_keys)


class Predictions(Sequence[dict[str, Any]]):
    """The batch route's `predictions`, kept as the answer's columns: read as dicts (built on
    first use), or written as JSON lines straight from the columns (`jsonl`), which is what
    `mlserve batch` does with a million rows: no dict per row, no Python step per value."""

    def __init__(
        self,
        distinct: list[Any] | None = None,
        rows: np.ndarray | None = None,
        confidences: np.ndarray | None = None,
        probabilities: np.ndarray | None = None,
        keys: list[str] | None = None,
        *,
        values: np.ndarray | None = None,
    ) -> None:
        self._distinct, self._rows, self._values = distinct, rows, values  # labels, or values
        self._confidences, self._probabilities, self._keys = confidences, probabilities, keys
        self._dicts: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self._values if self._values is not None else self._rows)  # type: ignore[arg-type]

    @overload
    def __getitem__(self, item: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, item: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, item: int | slice) -> Any:
        return self.dicts()[item]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and self.dicts() == list(other)

    __hash__ = None  # type: ignore[assignment]  # a sequence that compares by value

    def __repr__(self) -> str:
        return repr(self.dicts())

    def dicts(self) -> list[dict[str, Any]]:
        if self._dicts is None:
            self._dicts = self._build()
        return self._dicts

    def _predicted(self) -> list[Any]:
        if self._values is not None:
            values: list[Any] = self._values.tolist()
            return values
        assert self._distinct is not None
        assert self._rows is not None
        # (a sentinel keeps numpy from reading equal-length labels as a 2-D array)
        picked: list[Any] = np.asarray([*self._distinct, None], dtype=object)[self._rows].tolist()
        return picked

    def _build(self) -> list[dict[str, Any]]:
        predicted = self._predicted()
        if self._probabilities is None or self._confidences is None or self._keys is None:
            return [{"prediction": p} for p in predicted]
        keys = self._keys
        return [  # equal lengths, checked when the answer was read
            {"prediction": p, "confidence": c, "probabilities": dict(zip(keys, row))}  # noqa: B905
            for p, c, row in zip(
                predicted, self._confidences.tolist(), self._probabilities.tolist(), strict=False
            )
        ]

    def jsonl(self, start: int) -> bytes:
        """One JSON line per row, `{"row": start + i, ...the row's dict}`, byte for byte what
        orjson makes of each dict: every column is serialised by orjson in one call, split
        into its values, and the lines are put together by list slicing."""
        count = len(self)
        if count == 0:
            return b""
        fields: list[tuple[bytes, list[bytes]]] = [
            (b'{"row":', _tokens(orjson.dumps(list(range(start, start + count))))),
            (b',"prediction":', self._prediction_tokens()),
        ]
        if self._probabilities is not None and self._confidences is not None and self._keys:
            numpy = orjson.OPT_SERIALIZE_NUMPY
            fields.append(
                (b',"confidence":', _tokens(orjson.dumps(self._confidences, option=numpy)))
            )
            flat = _tokens(
                orjson.dumps(np.ascontiguousarray(self._probabilities).ravel(), option=numpy)
            )
            width = len(self._keys)
            for j, key in enumerate(self._keys):
                lead = b',"probabilities":{' if j == 0 else b","
                fields.append((lead + orjson.dumps(key) + b":", flat[j::width]))
            end = b"}}\n"
        else:
            end = b"}\n"
        stride = 2 * len(fields) + 1
        pieces: list[bytes] = [end] * (count * stride)
        for f, (text, tokens) in enumerate(fields):
            pieces[2 * f :: stride] = [text] * count
            pieces[2 * f + 1 :: stride] = tokens
        return b"".join(pieces)

    def _prediction_tokens(self) -> list[bytes]:
        if self._values is not None:
            return _tokens(orjson.dumps(self._values, option=orjson.OPT_SERIALIZE_NUMPY))
        assert self._distinct is not None
        assert self._rows is not None
        encoded = [orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY) for v in self._distinct]
        tokens: list[bytes] = np.asarray([*encoded, b""], dtype=object)[self._rows].tolist()
        return tokens


def _tokens(array: bytes) -> list[bytes]:
    """The values of a flat JSON array of numbers, each as its JSON text."""
    return array[1:-1].split(b",")


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


def _labels(
    outputs: dict[str, tuple[dict[str, Any], bytes]], values: dict[str, Any]
) -> tuple[list[Any], np.ndarray]:
    """BYTES labels (a 4-byte length, then the text): the distinct labels as /predict/batch
    gives them, and each row's index into them."""
    if "label" not in outputs:
        raise UnexpectedAnswer("a V2 answer without its 'label' output")
    tensor, raw = outputs["label"]
    count = int(tensor.get("shape", [0])[0])
    same_width = _same_width_labels(raw, count)
    if same_width is not None:
        texts, rows = same_width
    else:
        texts, rows = _distinct(_unpacked(raw, count))
    try:
        return [values[text] for text in texts], rows
    except KeyError as exc:
        raise UnexpectedAnswer(f"a V2 answer with a label the model does not have: {exc}") from None


def _distinct(texts: list[str]) -> tuple[list[str], np.ndarray]:
    index: dict[str, int] = {}
    rows = np.array([index.setdefault(t, len(index)) for t in texts], dtype=np.intp)
    return list(index), rows


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
