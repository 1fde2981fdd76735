"""The benchmark models: a RandomForest (100 trees) and a LogisticRegression, both on 20
synthetic features, saved with joblib so every server loads the very same file."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

FEATURES = 20


def build(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    x, y = make_classification(
        n_samples=5000, n_features=FEATURES, n_informative=10, n_classes=3, random_state=0
    )
    models = {
        "rf": RandomForestClassifier(n_estimators=100, random_state=0),
        "lr": LogisticRegression(max_iter=1000),
    }
    paths = {}
    for name, model in models.items():
        paths[name] = folder / f"{name}.joblib"
        if not paths[name].exists():
            joblib.dump(model.fit(x, y), paths[name])
    return paths


def rows(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, FEATURES)).round(4)
