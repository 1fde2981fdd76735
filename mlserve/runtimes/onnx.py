"""ONNX graphs run by ONNX Runtime: converted scikit-learn / XGBoost / LightGBM models (a label
and a probabilities output), exported networks (logits: softmax and labels as for torch) and
regressors. The graph takes one tensor input (features or an image), or one input per named
feature (`inputs:` in the manifest names them). A graph is data: loading it runs no code."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlserve.runtimes._base import (
    Batch,
    BatchPrediction,
    Runtime,
    RuntimeInfo,
    Task,
    classify_from_proba,
    resolve_labels,
    softmax,
)
from mlserve.runtimes._options import PreprocessSpec, TensorInputOptions

PLATFORM = "onnxruntime_onnx"  # the V2 metadata's name for it
EXTRA = "mlserve[onnx]"
NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}
# Operators of converted classifiers that carry the class labels.
LABELLED_OPS = ("ZipMap", "TreeEnsembleClassifier", "LinearClassifier", "SVMClassifier")


class Options(TensorInputOptions):
    """Device and tensor input; the intra-op threads come from the model's `threads`."""


class OnnxRuntime(Runtime):
    _session: Any
    _info: RuntimeInfo
    _labels: list[Any] | None = None

    @property
    def options(self) -> Options:
        assert isinstance(self.spec.options, Options)
        return self.spec.options

    def unload(self) -> None:
        self._session = None  # the session owns the graph and its arena (or device memory)

    def load(self) -> None:
        import onnxruntime

        options = self.options
        self._session = open_session(str(self.spec.path), options.device, self.threads)
        inputs = self._session.get_inputs()
        self._feeds = self._plan_inputs(inputs)
        self._dtype = NUMPY_TYPES.get(inputs[0].type, np.float32)
        kind = self.options.input_kind()
        dims = inputs[0].shape[1:]
        fixed = len(self._feeds) == 1 and all(isinstance(d, int) for d in dims)
        input_shape = tuple(int(d) for d in dims) if dims and fixed else None
        if self.options.input_shape:
            input_shape = tuple(self.options.input_shape)
        n_features = len(self._feeds) if len(self._feeds) > 1 else None
        if kind == "tabular" and n_features is None and input_shape:
            n_features = int(np.prod(input_shape))
        self._task, self._probabilities = self._read_outputs(kind, input_shape, n_features)
        labels = None
        if self._task == "classification":
            labels = [str(x) for x in self._labels or []]
        self._info = RuntimeInfo(
            framework="onnxruntime",
            framework_version=onnxruntime.__version__,
            task=self._task,
            input_kind=kind,
            n_features=n_features,
            labels=labels,
            label_values=self._labels if labels is not None else None,
            input_shape=input_shape if kind == "image" else None,
            device=self._session.get_providers()[0],
            threads=self.threads,
            preprocess=(self.options.preprocess or PreprocessSpec()) if kind == "image" else None,
        )

    def describe(self) -> RuntimeInfo:
        return self._info

    def predict(self, batch: Batch) -> BatchPrediction:
        assert isinstance(batch, np.ndarray)
        outputs = self._run(batch)
        if self._task == "regression":
            values = np.asarray(outputs[0], dtype=np.float64).reshape(len(batch), -1)[:, 0]
            return BatchPrediction(values.tolist())
        assert self._labels is not None
        if self._probabilities is not None:
            return classify_from_proba(_as_matrix(outputs[self._probabilities]), self._labels)
        logits = np.asarray(outputs[0], dtype=np.float64).reshape(len(batch), -1)
        return classify_from_proba(softmax(logits), self._labels)

    def _run(self, batch: np.ndarray) -> list[Any]:
        array = np.ascontiguousarray(batch, dtype=self._dtype)
        if len(self._feeds) == 1:
            feed = {self._feeds[0]: array}
        else:
            feed = {name: array[:, [j]] for j, name in enumerate(self._feeds)}
        result: list[Any] = self._session.run(None, feed)
        return result

    def _plan_inputs(self, inputs: list[Any]) -> list[str]:
        """The graph's input names in feature order: one tensor, or one per named feature."""
        names = [i.name for i in inputs]
        if len(names) == 1:
            return names
        named = [f.name for f in self.spec.inputs or []]
        if sorted(named) != sorted(names):
            raise ValueError(
                f"the graph has {len(names)} inputs ({', '.join(names)}); name each under "
                "`inputs:` in the manifest, in feature order, or export one tensor input"
            )
        return named

    def _read_outputs(
        self, kind: str, input_shape: tuple[int, ...] | None, n_features: int | None
    ) -> tuple[Task, int | None]:
        """Classifier (with the index of its probabilities output) or regressor."""
        outputs = self._session.get_outputs()
        for index, output in enumerate(outputs):
            is_map = output.type.startswith("seq(map")
            if len(outputs) > 1 and (is_map or "prob" in output.name.lower()):
                width = self._probe_width(kind, input_shape, n_features, index)
                native = graph_labels(str(self.spec.path))
                self._labels = resolve_labels(self.spec, native, width)
                return "classification", index
        width = self._probe_width(kind, input_shape, n_features, 0)
        if width > 1 or self.spec.labels:
            self._labels = resolve_labels(self.spec, None, width)
            return "classification", None
        return "regression", None

    def _probe_width(
        self, kind: str, input_shape: tuple[int, ...] | None, n_features: int | None, index: int
    ) -> int:
        """Run one zero row to learn an output's width."""
        shape = (1, *input_shape) if input_shape else (1, n_features) if n_features else None
        if shape is None:
            raise ValueError("cannot tell the graph's input size; give input_shape in the manifest")
        return int(_as_matrix(self._run(np.zeros(shape))[index]).shape[1])


def open_session(source: str | bytes, device: str = "cpu", threads: int | None = None) -> Any:
    """An ONNX Runtime session on the requested device: the CUDA provider when asked for and
    present, else a clear error; `threads` sets the intra-op pool."""
    import onnxruntime

    settings = onnxruntime.SessionOptions()
    settings.log_severity_level = 3  # errors only: converters' shape notes would flood the log
    if threads:
        settings.intra_op_num_threads = threads
        settings.inter_op_num_threads = 1
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") or device == "auto":
        has_cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
        if has_cuda:
            providers.insert(0, "CUDAExecutionProvider")
        elif device != "auto":
            raise RuntimeError(
                f"device {device!r} asked for, but this onnxruntime has no CUDA execution "
                "provider (install onnxruntime-gpu on a machine with CUDA)"
            )
    return onnxruntime.InferenceSession(source, settings, providers=providers)


def graph_labels(path: str) -> list[Any] | None:
    """Class labels stored in a converted classifier's graph, if any (needs `onnx`)."""
    try:
        import onnx
    except ImportError:
        return None
    graph = onnx.load(path, load_external_data=False).graph
    for node in graph.node:
        if node.op_type not in LABELLED_OPS:
            continue
        for attribute in node.attribute:
            if attribute.name == "classlabels_strings" and attribute.strings:
                return [s.decode() for s in attribute.strings]
            if attribute.name == "classlabels_int64s" and attribute.ints:
                return list(attribute.ints)
    return None


def _as_matrix(output: Any) -> np.ndarray:
    """A probabilities output as (rows, classes): a tensor, or ZipMap's list of dicts."""
    if isinstance(output, list) and output and isinstance(output[0], dict):
        return np.array([list(row.values()) for row in output], dtype=np.float64)
    array = np.asarray(output, dtype=np.float64)
    return array.reshape(len(array), -1)


RUNTIME = OnnxRuntime
