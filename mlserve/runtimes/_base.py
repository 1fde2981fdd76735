"""The one interface every framework runtime implements.

The inference core calls it in this order, and nothing else does:

    runtime = RuntimeClass(spec)   # cheap: stores the spec, touches no file
    runtime.load()                 # I/O and framework imports; may raise, marks the model failed
    runtime.describe()             # what the core needs to validate input and shape output
    runtime.predict(batch)         # sync, in a worker thread: a whole batch in, a whole batch out

`batch` is a 2-D float array for tabular models, a 4-D float array (N, C, H, W) for image
models and a list of strings for text models; the core has validated it already.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from mlserve.runtimes._options import InputKind, PreprocessSpec

if TYPE_CHECKING:
    from mlserve.config.schema import ModelSpec
Task = Literal["classification", "regression"]
Batch = np.ndarray | list[str]


@dataclass(frozen=True)
class RuntimeInfo:
    """What a loaded model looks like from the outside."""

    framework: str
    framework_version: str
    task: Task
    input_kind: InputKind
    n_features: int | None = None
    labels: list[str] | None = None  # as text: probability keys, V2 label names
    label_values: list[Any] | None = None  # as the model gives them: what /predict answers
    input_shape: tuple[int, ...] | None = None
    device: str = "cpu"
    notes: list[str] = field(default_factory=list)
    replicas: int | None = None  # copies serving the model, where a backend runs several
    # each copy's node and state, where the backend tells them: [{"node": ip, "state": ...}]
    replica_details: list[dict[str, str]] | None = None
    preprocess: PreprocessSpec | None = None  # image models: how an image becomes the input
    max_length: int | None = None  # text models: tokens kept per text
    engine: str | None = None  # what runs the model when not the framework (accelerate)
    threads: int | None = None  # the framework's threads for this model


class ChosenLabels(Sequence[Any]):
    """A classifier's answer per row, kept as indices into its labels until someone reads
    the labels themselves: a 10,000-row V2 answer encodes each distinct label once instead of
    building 10,000 Python objects."""

    __slots__ = ("labels", "positions")

    def __init__(self, positions: np.ndarray, labels: list[Any]) -> None:
        self.positions = positions  # each row's index into `labels`
        self.labels = labels  # the model's labels, in their own types

    def __len__(self) -> int:
        return len(self.positions)

    @overload
    def __getitem__(self, item: int) -> Any: ...
    @overload
    def __getitem__(self, item: slice) -> ChosenLabels: ...
    def __getitem__(self, item: int | slice) -> Any:
        if isinstance(item, slice):
            return ChosenLabels(self.positions[item], self.labels)
        return self.labels[int(self.positions[item])]

    def __iter__(self) -> Iterator[Any]:
        return iter([self.labels[i] for i in self.positions.tolist()])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # a sequence that compares by value

    def __repr__(self) -> str:
        return f"ChosenLabels({list(self)!r})"


@dataclass
class BatchPrediction:
    """Model output for a batch: one prediction per row, plus probabilities for classifiers.
    A request's share of a model call is a `slice` of the call's answer."""

    predictions: Sequence[Any]
    probabilities: np.ndarray | None = None  # shape (rows, len(labels))
    labels: list[str] | None = None
    finite: bool = False  # every number checked finite (once per model call, not per request)
    # The model call's whole answer this is a share of, and where the share starts: the
    # JSON rows are built once per call (numpy's per-call overhead paid once, not per request).
    whole: BatchPrediction | None = field(default=None, repr=False, compare=False)
    start: int = field(default=0, repr=False, compare=False)
    _rows: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.predictions)

    def slice(self, start: int, stop: int) -> BatchPrediction:
        probs = None if self.probabilities is None else self.probabilities[start:stop]
        whole = self.whole or self
        return BatchPrediction(
            self.predictions[start:stop], probs, self.labels, self.finite, whole, self.start + start
        )

    def confidences(self) -> np.ndarray:
        """Each row's probability of its predicted label (classifiers only)."""
        assert self.probabilities is not None
        if isinstance(self.predictions, ChosenLabels):  # a lookup, cheaper than a row max
            chosen = self.predictions.positions
            picked: np.ndarray = self.probabilities[np.arange(len(chosen)), chosen]
            return picked
        best: np.ndarray = self.probabilities.max(axis=1)
        return best

    def json_rows(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per row: prediction, plus confidence and probabilities if any.
        Built for the whole model call the first time one of its shares asks."""
        whole = self.whole or self
        if whole._rows is None:
            whole._rows = _json_rows(whole)
        if whole is self:
            return whole._rows
        return whole._rows[self.start : self.start + len(self)]


def _json_rows(result: BatchPrediction) -> list[dict[str, Any]]:
    predictions = result.predictions
    if isinstance(predictions, ChosenLabels):
        predictions = list(predictions)
    if result.probabilities is None:
        return [{"prediction": p} for p in predictions]
    labels = result.labels or []
    confidences = result.confidences().tolist()
    return [
        {"prediction": p, "confidence": c, "probabilities": dict(zip(labels, row))}  # noqa: B905
        for p, c, row in zip(  # noqa: B905 - equal lengths by construction
            predictions, confidences, result.probabilities.tolist()
        )
    ]


class Runtime(ABC):
    """Loads one model file of one framework and runs it on validated batches."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    @property
    def threads(self) -> int:
        """The manifest's `threads: N`, else the server's CPU budget (the registry resolves
        `auto` before the runtime is made; a runtime made by hand detects it)."""
        if self.spec.threads != "auto":
            return int(self.spec.threads)
        from mlserve.engine import cpus

        return cpus.detect().cpus

    @abstractmethod
    def load(self) -> None:
        """Read the model file; raise with a readable message if it cannot be served."""

    @abstractmethod
    def describe(self) -> RuntimeInfo:
        """Describe the loaded model (only valid after `load`)."""

    @abstractmethod
    def predict(self, batch: Batch) -> BatchPrediction:
        """Run the model on a whole batch; called from a worker thread."""

    @abstractmethod
    def unload(self) -> None:
        """Free what `load` took (the model, sessions, modules, accelerator memory) now,
        even while something still holds this runtime: called once no request uses it, and
        never followed by `predict`. A runtime that holds nothing of its own does nothing."""


def classify_from_proba(proba: np.ndarray, labels: list[Any]) -> BatchPrediction:
    """Predictions as the most probable label: one model pass gives both answers."""
    proba = np.asarray(proba, dtype=np.float64)
    best = proba.argmax(axis=1)
    return BatchPrediction(ChosenLabels(best, labels), proba, [str(x) for x in labels])


def softmax(logits: np.ndarray) -> np.ndarray:
    # Infinite logits (a model that overflowed) give NaN here, quietly: the inference core
    # refuses non-finite outputs with an error that names the model.
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        out: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return out


def resolve_labels(spec: ModelSpec, native: list[Any] | None, n_outputs: int) -> list[Any]:
    """Labels from the manifest if given, else the model's own, else class indices."""
    if spec.labels is not None:
        if len(spec.labels) != n_outputs:
            raise ValueError(
                f"manifest gives {len(spec.labels)} labels but the model has {n_outputs} classes"
            )
        return list(spec.labels)
    if native is not None:
        return native
    return list(range(n_outputs))
