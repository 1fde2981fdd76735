"""The XGBoost and LightGBM runtimes: native files only, classifier or regressor from the
objective, answers equal to the framework's own, and a clear error for a bad file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightgbm
import numpy as np
import pytest
import xgboost
from sklearn.datasets import load_diabetes, load_iris

from mlserve.config.schema import ModelSpec
from mlserve.runtimes import resolve_runtime
from mlserve.runtimes._base import Runtime

IRIS = load_iris()
DIABETES = load_diabetes()


def loaded(runtime: str, path: Path) -> Runtime:
    served = resolve_runtime(runtime)(ModelSpec(name="m", runtime=runtime, path=path))
    served.load()
    return served


def xgb_classifier(folder: Path) -> tuple[Path, np.ndarray]:
    model = xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(IRIS.data, IRIS.target)
    model.save_model(folder / "iris.ubj")
    return folder / "iris.ubj", np.asarray(model.predict_proba(IRIS.data))


def lgbm_classifier(folder: Path) -> tuple[Path, np.ndarray]:
    model = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(IRIS.data, IRIS.target)
    model.booster_.save_model(str(folder / "iris.txt"))
    return folder / "iris.txt", np.asarray(model.predict_proba(IRIS.data))


def xgb_regressor(folder: Path) -> tuple[Path, np.ndarray]:
    model = xgboost.XGBRegressor(n_estimators=20).fit(DIABETES.data, DIABETES.target)
    model.save_model(folder / "diabetes.json")
    return folder / "diabetes.json", np.asarray(model.predict(DIABETES.data))


def lgbm_regressor(folder: Path) -> tuple[Path, np.ndarray]:
    model = lightgbm.LGBMRegressor(n_estimators=20, verbose=-1)
    model.fit(DIABETES.data, DIABETES.target)
    model.booster_.save_model(str(folder / "diabetes.txt"))
    return folder / "diabetes.txt", np.asarray(model.predict(DIABETES.data))


@pytest.mark.parametrize(
    ("runtime", "build"), [("xgboost", xgb_classifier), ("lightgbm", lgbm_classifier)]
)
def test_multiclass_probabilities_equal_the_framework(
    tmp_path: Path, runtime: str, build: Callable[[Path], tuple[Path, np.ndarray]]
) -> None:
    path, native = build(tmp_path)
    served = loaded(runtime, path)
    info = served.describe()
    assert info.task == "classification"
    assert info.n_features == 4
    assert info.labels == ["0", "1", "2"]
    result = served.predict(IRIS.data)
    assert result.probabilities is not None
    assert np.allclose(result.probabilities, native, atol=1e-6)
    assert result.predictions == native.argmax(axis=1).tolist()


@pytest.mark.parametrize(
    ("runtime", "build"), [("xgboost", xgb_regressor), ("lightgbm", lgbm_regressor)]
)
def test_regressors_answer_the_frameworks_values(
    tmp_path: Path, runtime: str, build: Callable[[Path], tuple[Path, np.ndarray]]
) -> None:
    path, native = build(tmp_path)
    served = loaded(runtime, path)
    assert served.describe().task == "regression"
    assert np.allclose(served.predict(DIABETES.data).predictions, native, rtol=1e-5)


@pytest.mark.parametrize(
    ("runtime", "name", "needle"),
    [
        ("xgboost", "corrupt.json", ""),
        ("xgboost", "model.pkl", "a .json or .ubj file"),
        ("lightgbm", "corrupt.txt", ""),
        ("lightgbm", "model.json", "a .txt file"),
    ],
)
def test_a_corrupt_or_foreign_file_is_a_clear_load_error(
    tmp_path: Path, runtime: str, name: str, needle: str
) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x00\x01 not a model {")
    served = resolve_runtime(runtime)(ModelSpec(name="m", runtime=runtime, path=path))
    with pytest.raises(Exception) as info:  # noqa: PT011 - each framework raises its own
        served.load()
    assert needle in str(info.value)
    assert str(info.value)


def test_the_other_frameworks_file_is_refused(samples: Path) -> None:
    with pytest.raises(ValueError, match=r"a \.json or \.ubj file"):
        loaded("xgboost", samples / "credit-lgbm.txt")
    with pytest.raises(ValueError, match=r"a \.txt file"):
        loaded("lightgbm", samples / "credit-xgb.json")
