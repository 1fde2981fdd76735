"""scikit-learn (and any joblib/pickle estimator with `predict`)."""

from __future__ import annotations

import warnings
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.base import is_classifier
from sklearn.exceptions import InconsistentVersionWarning

from mlserve.runtimes.base import (
    Batch,
    BatchPrediction,
    Runtime,
    RuntimeInfo,
    classify_from_proba,
    resolve_labels,
)


class SklearnRuntime(Runtime):
    """A fitted estimator or pipeline; classifiers answer with one `predict_proba` pass."""

    _model: Any
    _info: RuntimeInfo
    _labels: list[Any]

    def load(self) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InconsistentVersionWarning)
            model = joblib.load(self.spec.path)
        if not callable(getattr(model, "predict", None)):
            raise TypeError(f"{type(model).__name__} has no predict(); not a scikit-learn model")
        notes = [
            str(w.message) for w in caught if issubclass(w.category, InconsistentVersionWarning)
        ]
        self._model = model
        self._has_proba = is_classifier(model) and hasattr(model, "predict_proba")
        classes = getattr(model, "classes_", None)
        native = (
            [c.item() if hasattr(c, "item") else c for c in classes]
            if classes is not None
            else None
        )
        labels = None
        if is_classifier(model):
            self._labels = resolve_labels(self.spec, native, len(native or self.spec.labels or []))
            labels = [str(x) for x in self._labels]
        n_features = getattr(model, "n_features_in_", None)
        self._info = RuntimeInfo(
            framework="scikit-learn",
            framework_version=sklearn.__version__,
            task="classification" if is_classifier(model) else "regression",
            input_kind="tabular",
            n_features=int(n_features) if n_features is not None else None,
            labels=labels,
            notes=notes,
        )

    def describe(self) -> RuntimeInfo:
        return self._info

    def predict(self, batch: Batch) -> BatchPrediction:
        assert isinstance(batch, np.ndarray)
        if self._has_proba:
            return classify_from_proba(self._model.predict_proba(batch), self._labels)
        raw = np.asarray(self._model.predict(batch))
        if self._info.task == "classification":
            index = {c: i for i, c in enumerate(self._model.classes_.tolist())}
            return BatchPrediction(
                [self._labels[index[c]] for c in raw.tolist()], None, self._info.labels
            )
        values = np.asarray(raw, dtype=np.float64)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        return BatchPrediction(values.tolist())
