"""Small real models for fault tests, importable by name so that they pickle."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression


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


def sleep_then_pass(x: np.ndarray, seconds: float = 0.5, mark: str | None = None) -> np.ndarray:
    """A slow preprocessing step: the model takes `seconds` per call, whatever the batch.
    `mark`: a file created when a call starts (what a test can wait on)."""
    import time
    from pathlib import Path

    if mark is not None:
        Path(mark).touch()
    time.sleep(seconds)
    return x


def slow_classifier(path: str, seconds: float, mark: str | None = None) -> None:
    """Iris logistic regression that takes `seconds` per model call."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    data = load_iris()
    slow = FunctionTransformer(sleep_then_pass, kw_args={"seconds": 0})
    model = make_pipeline(slow, LogisticRegression(max_iter=500))
    model.fit(data.data, data.target)
    slow.kw_args = {"seconds": seconds, "mark": mark}  # slow when serving, not while fitting
    joblib.dump(model, path)


class MeetingClassifier(LogisticRegression):  # type: ignore[misc]  # sklearn has no types
    """Iris logistic regression whose unpickling waits (up to `MEETING_S`) for another
    `MeetingClassifier` to be unpickling too: loads that run at the same time meet, loads
    one after another do not. `peak` counts how many were unpickling at once."""

    lock = threading.Lock()
    active = 0
    peak = 0
    barrier = threading.Barrier(2)

    @classmethod
    def fitted(cls) -> MeetingClassifier:
        from sklearn.datasets import load_iris

        data = load_iris()
        model: MeetingClassifier = cls(max_iter=500).fit(data.data, data.target)
        return model

    def __setstate__(self, state: dict[str, Any]) -> None:
        cls = MeetingClassifier
        with cls.lock:
            cls.active += 1
            cls.peak = max(cls.peak, cls.active)
        try:
            cls.barrier.wait(timeout=MEETING_S)
        except threading.BrokenBarrierError:
            pass
        finally:
            with cls.lock:
                cls.active -= 1
        super().__setstate__(state)

    @classmethod
    def reset(cls) -> None:
        cls.active = cls.peak = 0
        cls.barrier = threading.Barrier(2)


MEETING_S = 1.0
