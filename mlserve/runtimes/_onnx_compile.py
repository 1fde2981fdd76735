"""`accelerate: onnx | auto`: a tree ensemble or linear model compiled to ONNX Runtime at load.

A scikit-learn forest spends milliseconds of Python per call whatever the batch size; the
same forest converted to ONNX runs a row in microseconds. The converted model is served only
after it has
shown, on probe rows, the same labels as the original and probabilities (or regression values)
within the manifest's `tolerance`; otherwise the original is served and the reason is logged
and shown in `/model/info`. Probe rows come from the manifest's `probe` CSV, else are drawn
within the named inputs' bounds (or around zero for unnamed features).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlserve.config.schema import ModelSpec
from mlserve.runtimes._base import (
    Batch,
    BatchPrediction,
    Runtime,
    RuntimeInfo,
    classify_from_proba,
    resolve_labels,
)
from mlserve.runtimes._options import AccelerateOptions

log = logging.getLogger("mlserve.runtimes.accelerate")
PROBE_ROWS = 512
INPUT_NAME = "input"

# What a runtime hands over: the native model, and its scores for a batch (probabilities for
# classifiers, values for regressors), to compare the converted model with.
Scores = Callable[[np.ndarray], np.ndarray]


@dataclass
class Compiled:
    """The converted model: scores for a batch, as the native model gives them."""

    session: Any
    output: int  # which output holds the scores
    engine: str

    def scores(self, batch: np.ndarray) -> np.ndarray:
        array = np.ascontiguousarray(batch, dtype=np.float32)
        out = np.asarray(self.session.run(None, {INPUT_NAME: array})[self.output])
        return out.astype(np.float64).reshape(len(batch), -1)


def compile_model(
    spec: ModelSpec,
    options: AccelerateOptions,
    framework: str,
    model: Any,
    n_features: int,
    native_scores: Scores,
    classifier: bool,
    threads: int = 1,
) -> tuple[Compiled | None, str]:
    """The converted model, or None and why not (an explanation for the log and the info)."""
    if options.accelerate == "off":
        return None, ""
    try:
        graph = _convert(framework, model, n_features)
    except ImportError as exc:
        return None, _refuse(
            spec, f"the converter is not installed ({exc.name}): pip install 'mlserve[accelerate]'"
        )
    except Exception as exc:  # converters raise anything for a model they do not know
        quiet = options.accelerate == "auto"
        return None, _refuse(spec, f"cannot convert: {type(exc).__name__}: {exc}", quiet)
    import onnxruntime

    from mlserve.runtimes.onnx import open_session

    session = open_session(graph, threads=threads)
    output = 1 if classifier else 0
    engine = f"onnxruntime {onnxruntime.__version__} (accelerate: converted at load)"
    compiled = Compiled(session, output, engine)
    rows = probe_rows(spec, options, n_features)
    disagreement = _compare(compiled, native_scores, rows, classifier, options.tolerance)
    if disagreement:
        return None, _refuse(spec, disagreement)
    log.info("model %s: serving the ONNX conversion (%d probe rows agree)", spec.key, len(rows))
    return compiled, ""


def _convert(framework: str, model: Any, n_features: int) -> bytes:
    if framework == "scikit-learn":
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType as SklFloat

        options = {"zipmap": False} if hasattr(model, "predict_proba") else None
        graph = to_onnx(
            model, initial_types=[(INPUT_NAME, SklFloat([None, n_features]))], options=options
        )
    else:
        from onnxmltools.convert import convert_lightgbm, convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType

        types = [(INPUT_NAME, FloatTensorType([None, n_features]))]
        if framework == "xgboost":
            graph = convert_xgboost(model, initial_types=types)
        else:
            graph = convert_lightgbm(model, initial_types=types, zipmap=False)
    data: bytes = graph.SerializeToString()
    return data


def probe_rows(spec: ModelSpec, options: AccelerateOptions, n_features: int) -> np.ndarray:
    """The rows both models answer before the converted one is trusted."""
    if options.probe is not None:
        rows = np.loadtxt(Path(options.probe), delimiter=",", ndmin=2, dtype=np.float64)
        if rows.shape[1] != n_features:
            raise ValueError(
                f"probe file has {rows.shape[1]} columns; the model takes {n_features}"
            )
        return rows
    rng = np.random.default_rng(0)
    columns = []
    for j in range(n_features):
        feature = spec.inputs[j] if spec.inputs and j < len(spec.inputs) else None
        low = feature.min if feature and feature.min is not None else None
        high = feature.max if feature and feature.max is not None else None
        if low is None and high is None:
            column = rng.normal(0, 1, PROBE_ROWS)
        else:
            low = low if low is not None else high - 1000  # type: ignore[operator]
            high = high if high is not None else low + 1000 * max(1.0, abs(low))
            column = rng.uniform(low, high, PROBE_ROWS)
        if feature and feature.type == "int":
            column = np.round(column)
        columns.append(column)
    return np.column_stack(columns)


def _compare(
    compiled: Compiled, native: Scores, rows: np.ndarray, classifier: bool, tolerance: float
) -> str:
    """Why the converted model may not be served (empty: it agrees)."""
    expected = np.asarray(native(rows), dtype=np.float64).reshape(len(rows), -1)
    got = compiled.scores(rows)
    if got.shape != expected.shape:
        return f"the conversion answers with shape {got.shape}, the original {expected.shape}"
    if classifier and (got.argmax(axis=1) != expected.argmax(axis=1)).any():
        differ = int((got.argmax(axis=1) != expected.argmax(axis=1)).sum())
        return f"the conversion changes the label of {differ} of {len(rows)} probe rows"
    scale = 1.0 if classifier else np.maximum(1.0, np.abs(expected))
    worst = float(np.max(np.abs(got - expected) / scale))
    if worst > tolerance:
        return f"the conversion differs by {worst:.2g} on the probe rows (tolerance {tolerance:g})"
    return ""


def _refuse(spec: ModelSpec, reason: str, quiet: bool = False) -> str:
    message = f"accelerate: serving the original model: {reason}"
    (log.info if quiet else log.warning)("model %s: %s", spec.key, message)
    return message


class BoosterRuntime(Runtime):
    """What XGBoost and LightGBM share once a subclass has read its Booster: labels, the
    optional ONNX conversion, the description and the answers. A subclass loads the file,
    calls `loaded`, and gives its native scores in `_scores`."""

    FRAMEWORK: str
    _booster: Any
    _classes: int = 0  # 0 for a regressor
    _labels: list[Any]
    _compiled: Compiled | None = None
    _info: RuntimeInfo

    @property
    def options(self) -> AccelerateOptions:
        assert isinstance(self.spec.options, AccelerateOptions)
        return self.spec.options

    def loaded(
        self, booster: Any, classes: int, n_features: int, version: str, objective: str
    ) -> None:
        """Finish loading a Booster with `classes` classes (0: a regressor)."""
        self._booster, self._classes = booster, classes
        labels = None
        if classes:
            self._labels = resolve_labels(self.spec, None, classes)
            labels = [str(x) for x in self._labels]
        self._compiled, why = compile_model(
            self.spec,
            self.options,
            self.FRAMEWORK,
            booster,
            n_features,
            self._scores,
            classifier=bool(classes),
            threads=self.threads,
        )
        self._info = RuntimeInfo(
            framework=self.FRAMEWORK,
            framework_version=version,
            task="classification" if classes else "regression",
            input_kind="tabular",
            n_features=n_features,
            labels=labels,
            label_values=self._labels if labels is not None else None,
            notes=[f"objective {objective}", *([why] if why else [])],
            engine=self._compiled.engine if self._compiled else None,
            threads=self.threads,
        )

    def describe(self) -> RuntimeInfo:
        return self._info

    def unload(self) -> None:
        self._booster = self._compiled = None

    def predict(self, batch: Batch) -> BatchPrediction:
        assert isinstance(batch, np.ndarray)
        scores = self._compiled.scores(batch) if self._compiled else self._scores(batch)
        if not self._classes:
            return BatchPrediction(scores[:, 0].tolist())
        return classify_from_proba(scores, self._labels)

    @abstractmethod
    def _scores(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities (rows, classes), or values (rows, 1) for a regressor."""
