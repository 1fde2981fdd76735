"""LightGBM Boosters saved natively (`Booster.save_model` / `LGBMClassifier.booster_.save_model`:
a `.txt` model file). A text model is data, not code: loading it runs nothing."""

from __future__ import annotations

import numpy as np

from mlserve.runtimes._onnx_compile import BoosterRuntime
from mlserve.runtimes._options import AccelerateOptions

EXTRA = "mlserve[lightgbm]"
CLASSIFIERS = ("binary", "multiclass", "multiclassova", "cross_entropy", "xentropy")


class Options(AccelerateOptions):
    """`accelerate: onnx` compiles the trees to ONNX Runtime at load."""


class LightGBMRuntime(BoosterRuntime):
    FRAMEWORK = "lightgbm"

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
        classes = max(2, booster.num_model_per_iteration()) if objective in CLASSIFIERS else 0
        self.loaded(booster, classes, booster.num_feature(), lightgbm.__version__, objective)

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
