"""LitServe on the same model file, with its batching on (max_batch_size 64, 5 ms).

Runs in its own virtualenv (bench/.venv-litserve), made by bench/run.py.

    python bench/litserve_app.py MODEL_PATH PORT
"""

import sys
from typing import Any

import joblib
import litserve as ls
import numpy as np


class SklearnAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        if sys.argv[1].endswith(".json"):  # an XGBoost classifier in its native format
            import xgboost

            self.model = xgboost.XGBClassifier()
            self.model.load_model(sys.argv[1])
        else:
            self.model = joblib.load(sys.argv[1])

    def decode_request(self, request: dict) -> np.ndarray:  # LitServe reads this annotation
        return np.asarray(request["features"], dtype=np.float64)

    def batch(self, inputs: list[np.ndarray]) -> np.ndarray:
        return np.stack(inputs)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x)

    def unbatch(self, output: np.ndarray) -> list[np.ndarray]:
        return list(output)

    def encode_response(self, proba: np.ndarray) -> dict[str, Any]:
        return {
            "prediction": int(proba.argmax()),
            "confidence": float(proba.max()),
            "probabilities": {str(i): float(p) for i, p in enumerate(proba)},
        }


if __name__ == "__main__":
    api = SklearnAPI(max_batch_size=64, batch_timeout=0.005)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1)
    server.run(port=int(sys.argv[2]), generate_client_file=False, log_level="warning")
