"""XGBoost Boosters saved natively (`Booster.save_model` / `XGBClassifier.save_model`: `.json`
or `.ubj`). A native file is data, not code: loading it runs nothing. Classifier or regressor
comes from the objective stored in the file."""

from __future__ import annotations

import json

import numpy as np

from mlserve.runtimes._base import softmax
from mlserve.runtimes._onnx_compile import BoosterRuntime
from mlserve.runtimes._options import AccelerateOptions

EXTRA = "mlserve[xgboost]"
SUFFIXES = (".json", ".ubj")
# Objectives whose margins are class scores (sigmoid for one, softmax for several).
CLASSIFIERS = ("binary:logistic", "binary:logitraw", "binary:hinge", "multi:")


class Options(AccelerateOptions):
    """`accelerate: onnx` compiles the trees to ONNX Runtime at load."""


class XGBoostRuntime(BoosterRuntime):
    FRAMEWORK = "xgboost"

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
        classes = 0
        if objective.startswith(CLASSIFIERS):
            classes = max(2, int(learner["learner_model_param"].get("num_class", 0)))
        self.loaded(booster, classes, booster.num_features(), xgboost.__version__, objective)

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
