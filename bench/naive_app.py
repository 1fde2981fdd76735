"""The seed-style reference server: a lifespan-loaded model and `async def` routes that call
`predict` and `predict_proba` inline, on the event loop, one request per model call.

    MODEL_PATH=bench/.work/rf.joblib uvicorn bench.naive_app:app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import joblib
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

state: dict[str, Any] = {}


def load(path: str) -> Any:
    """A joblib estimator, or an XGBoost classifier from its native .json file."""
    if path.endswith(".json"):
        import xgboost

        model = xgboost.XGBClassifier()
        model.load_model(path)
        return model
    return joblib.load(path)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state["model"] = load(os.environ["MODEL_PATH"])
    yield


app = FastAPI(lifespan=lifespan)


class PredictRequest(BaseModel):
    features: list[float]


class BatchRequest(BaseModel):
    inputs: list[list[float]]


@app.post("/predict")
async def predict(request: PredictRequest) -> dict[str, Any]:
    model = state["model"]
    x = np.array([request.features])
    label = model.predict(x)[0]
    proba = model.predict_proba(x)[0]
    return {
        "prediction": int(label),
        "confidence": float(proba.max()),
        "probabilities": {str(c): float(p) for c, p in zip(model.classes_, proba)},
    }


@app.post("/predict/batch")
async def predict_batch(request: BatchRequest) -> dict[str, Any]:
    model = state["model"]
    x = np.array(request.inputs)
    labels = model.predict(x)
    probas = model.predict_proba(x)
    return {
        "predictions": [
            {
                "prediction": int(label),
                "confidence": float(proba.max()),
                "probabilities": {str(c): float(p) for c, p in zip(model.classes_, proba)},
            }
            for label, proba in zip(labels, probas)
        ]
    }
