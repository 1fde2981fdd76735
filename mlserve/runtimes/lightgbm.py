"""LightGBM Boosters saved natively (`Booster.save_model` / `LGBMClassifier.booster_.save_model`:
a `.txt` model file). A text model is data, not code: loading it runs nothing."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlserve.runtimes.accelerate import Compiled, compile_model
from mlserve.runtimes.base import (
    Batch,
    BatchPrediction,
    Runtime,
    RuntimeInfo,
    classify_from_proba,
    resolve_labels,
)
from mlserve.runtimes.options import AccelerateOptions

EXTRA = "mlserve[lightgbm]"
CLASSIFIERS = ("binary", "multiclass", "multiclassova", "cross_entropy", "xentropy")


class Options(AccelerateOptions):
    """`accelerate: onnx` compiles the trees to ONNX Runtime at load."""


class LightGBMRuntime(Runtime):
    _booster: Any
    _info: RuntimeInfo
    _labels: list[Any]

    def load(self) -> None:
        import lightgbm

        path = self.spec.path
        if path.suffix != ".txt":
            raise ValueError(
                f"{path.name}: a LightGBM model is a .txt file (Booster.save_model); "
                "pickled models are not loaded"
            )
        booster = lightgbm.Booster(model_file=str(path))
        objective = str(booster.dump_model(num_iteration=1).get("objective", "")).split(" ")[0]
        self._booster = booster
        self._classes = 0
        labels = None
        if objective in CLASSIFIERS:
            self._classes = max(2, booster.num_model_per_iteration())
            self._labels = resolve_labels(self.spec, None, self._classes)
            labels = [str(x) for x in self._labels]
        self._compiled, notes = self._accelerate(booster.num_feature())
        self._info = RuntimeInfo(
            framework="lightgbm",
            framework_version=lightgbm.__version__,
            task="classification" if self._classes else "regression",
            input_kind="tabular",
            n_features=booster.num_feature(),
            labels=labels,
            notes=[f"objective {objective}", *notes],
            engine=self._compiled.engine if self._compiled else None,
            threads=self.threads,
        )

    @property
    def options(self) -> Options:
        assert isinstance(self.spec.options, Options)
        return self.spec.options

    def _accelerate(self, n_features: int) -> tuple[Compiled | None, list[str]]:
        compiled, why = compile_model(
            self.spec,
            self.options,
            "lightgbm",
            self._booster,
            n_features,
            self._scores,
            classifier=bool(self._classes),
            threads=self.threads,
        )
        return compiled, [why] if why else []

    def describe(self) -> RuntimeInfo:
        return self._info

    def predict(self, batch: Batch) -> BatchPrediction:
        assert isinstance(batch, np.ndarray)
        scores = self._compiled.scores(batch) if self._compiled else self._scores(batch)
        if not self._classes:
            return BatchPrediction(scores[:, 0].tolist())
        return classify_from_proba(scores, self._labels)

    def _scores(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities (rows, classes), or values (rows, 1) for a regressor."""
        values = np.asarray(
            self._booster.predict(batch, num_threads=self.threads), dtype=np.float64
        )
        if not self._classes:
            return values.reshape(len(batch), -1)[:, :1]
        if values.ndim == 1:  # binary: the second class's probability
            values = np.column_stack([1.0 - values, values])
        return values


RUNTIME = LightGBMRuntime
