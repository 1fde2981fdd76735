"""Small real models for fault tests, importable by name so that they pickle."""

from __future__ import annotations

import numpy as np


def refuse_negative(x: np.ndarray) -> np.ndarray:
    """A preprocessing step that raises on negative inputs, as a real bug might."""
    if (np.asarray(x) < 0).any():
        raise ValueError("negative values reached the model")
    return x


def fragile_classifier(path: str) -> None:
    """Iris logistic regression behind `refuse_negative`, saved with joblib."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    data = load_iris()
    model = make_pipeline(FunctionTransformer(refuse_negative), LogisticRegression(max_iter=500))
    joblib.dump(model.fit(data.data, data.target), path)


def sleep_then_pass(x: np.ndarray, seconds: float = 0.5) -> np.ndarray:
    """A slow preprocessing step: the model takes `seconds` per call, whatever the batch."""
    import time

    time.sleep(seconds)
    return x


def slow_classifier(path: str, seconds: float) -> None:
    """Iris logistic regression that takes `seconds` per model call."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    data = load_iris()
    model = make_pipeline(
        FunctionTransformer(sleep_then_pass, kw_args={"seconds": seconds}),
        LogisticRegression(max_iter=500),
    )
    model.fit(data.data, data.target)
    joblib.dump(model, path)
