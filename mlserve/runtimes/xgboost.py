"""XGBoost Boosters saved natively (`Booster.save_model` / `XGBClassifier.save_model`: `.json`
or `.ubj`). A native file is data, not code: loading it runs nothing. Classifier or regressor
comes from the objective stored in the file."""

from __future__ import annotations

import json
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
    softmax,
)
from mlserve.runtimes.options import AccelerateOptions

EXTRA = "mlserve[xgboost]"
SUFFIXES = (".json", ".ubj")
# Objectives whose margins are class scores (sigmoid for one, softmax for several).
CLASSIFIERS = ("binary:logistic", "binary:logitraw", "binary:hinge", "multi:")


class Options(AccelerateOptions):
    """`accelerate: onnx` compiles the trees to ONNX Runtime at load."""


class XGBoostRuntime(Runtime):
    _booster: Any
    _info: RuntimeInfo
    _labels: list[Any]

    def load(self) -> None:
        import xgboost

        path = self.spec.path
        if path.suffix not in SUFFIXES:
            raise ValueError(
                f"{path.name}: an XGBoost model is a .json or .ubj file (Booster.save_model); "
                "pickled models are not loaded"
            )
        booster = xgboost.Booster()
        booster.load_model(str(path))
        booster.set_param({"nthread": self.threads})
        learner = json.loads(booster.save_config())["learner"]
        objective = learner["objective"]["name"]
        self._booster = booster
        self._classes = 0
        labels = None
        if objective.startswith(CLASSIFIERS):
            self._classes = max(2, int(learner["learner_model_param"].get("num_class", 0)))
            self._labels = resolve_labels(self.spec, None, self._classes)
            labels = [str(x) for x in self._labels]
        self._compiled, notes = self._accelerate(booster.num_features())
        self._info = RuntimeInfo(
            framework="xgboost",
            framework_version=xgboost.__version__,
            task="classification" if self._classes else "regression",
            input_kind="tabular",
            n_features=booster.num_features(),
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
            "xgboost",
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
        if not self._classes:
            values = np.asarray(self._booster.inplace_predict(batch), dtype=np.float64)
            return values.reshape(len(batch), -1)[:, :1]
        margins = np.asarray(
            self._booster.inplace_predict(batch, predict_type="margin"), dtype=np.float64
        )
        if margins.ndim == 1:  # one score: the second class's log-odds
            margins = np.column_stack([np.zeros_like(margins), margins])
        return softmax(margins)


RUNTIME = XGBoostRuntime
