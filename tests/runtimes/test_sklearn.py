"""The scikit-learn runtime's formats: skops builds only the types the manifest trusts (never
the file's own list), and a pickle without a sha256 pin is loaded with a warning."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest

from mlserve.config.schema import ModelSpec
from mlserve.engine.integrity import file_sha256
from mlserve.runtimes.sklearn import SklearnRuntime

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
TREE = "sklearn.tree._tree.Tree"


def loaded(path: Path, **options: object) -> SklearnRuntime:
    runtime = SklearnRuntime(ModelSpec(name="m", runtime="sklearn", path=path, **options))
    runtime.load()
    return runtime


def test_skops_with_the_trusted_types_equals_the_pickle(samples: Path) -> None:
    served = loaded(samples / "iris-v2.skops", trusted_types=[TREE])
    original = joblib.load(samples / "iris-v2.joblib")
    result = served.predict(ROWS)
    assert result.predictions == original.predict(ROWS).tolist()
    assert np.allclose(result.probabilities, original.predict_proba(ROWS))  # type: ignore[arg-type]


def test_skops_refuses_a_type_the_manifest_does_not_trust(samples: Path) -> None:
    with pytest.raises(ValueError, match=f"needs types the manifest does not trust: {TREE}"):
        loaded(samples / "iris-v2.skops")
    with pytest.raises(ValueError, match="does not trust"):
        loaded(samples / "iris-v2.skops", trusted_types=["numpy.ndarray"])


def test_unpinned_pickles_are_warned_about_once(
    samples: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlserve.runtimes import sklearn as runtime

    monkeypatch.setattr(runtime, "_UNPINNED_PICKLES", set())  # as in a fresh server process
    first, second = tmp_path / "a.joblib", tmp_path / "b.joblib"
    for path in (first, second):
        shutil.copyfile(samples / "iris-v1.joblib", path)
    with caplog.at_level(logging.INFO, logger="mlserve.runtimes.sklearn"):
        loaded(first)
        loaded(first)  # a reload, or a second version of the same file
        loaded(second)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "is a pickle, and loading a pickle runs code" in warnings[0].getMessage()
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
        "model m:v1: b.joblib is an unpinned pickle too"
    ]
    pinned = tmp_path / "pinned.joblib"
    shutil.copyfile(first, pinned)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mlserve.runtimes.sklearn"):
        loaded(pinned, sha256=file_sha256(pinned))
    assert caplog.text == ""


FORESTS = [
    ("RandomForestClassifier", "iris", {}),
    ("ExtraTreesClassifier", "iris", {"max_depth": 4}),
    ("RandomForestRegressor", "diabetes", {}),
    ("ExtraTreesRegressor", "diabetes", {"min_samples_leaf": 3}),
]


@pytest.mark.parametrize(("kind", "data", "params"), FORESTS, ids=[f[0] for f in FORESTS])
def test_forests_answer_bit_for_bit_as_scikit_learn(
    tmp_path: Path, kind: str, data: str, params: dict[str, object]
) -> None:
    from sklearn import datasets, ensemble

    from mlserve.runtimes.sklearn import sequential_forest

    x, y = getattr(datasets, f"load_{data}")(return_X_y=True)
    model = getattr(ensemble, kind)(n_estimators=30, random_state=0, **params).fit(x, y)
    scores = sequential_forest(model)
    assert scores is not None
    classifier = kind.endswith("Classifier")
    expected = model.predict_proba(x) if classifier else model.predict(x)
    assert np.array_equal(scores(x), expected)  # the same sums, in the same order
    joblib.dump(model, tmp_path / "forest.joblib")
    served = loaded(tmp_path / "forest.joblib").predict(x)
    if classifier:
        assert np.array_equal(served.probabilities, expected)  # type: ignore[arg-type]
        assert list(served.predictions) == model.predict(x).tolist()
    else:
        assert list(served.predictions) == expected.tolist()


def test_parallel_or_multi_output_forests_keep_scikit_learns_own_path() -> None:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression

    from mlserve.runtimes.sklearn import sequential_forest

    x = np.random.default_rng(0).normal(size=(60, 3))
    assert sequential_forest(RandomForestClassifier(n_jobs=2).fit(x, x[:, 0] > 0)) is None
    assert sequential_forest(RandomForestRegressor(n_estimators=5).fit(x, x[:, :2])) is None
    assert sequential_forest(LogisticRegression().fit(x, x[:, 0] > 0)) is None


LOGISTIC = [("iris", {}), ("breast_cancer", {}), ("wine", {"C": 0.01})]


@pytest.mark.parametrize(("data", "params"), LOGISTIC, ids=[d for d, _ in LOGISTIC])
def test_logistic_regression_answers_as_scikit_learn(
    tmp_path: Path, data: str, params: dict[str, object]
) -> None:
    from sklearn import datasets
    from sklearn.linear_model import LogisticRegression

    from mlserve.runtimes.sklearn import lean_logistic

    x, y = getattr(datasets, f"load_{data}")(return_X_y=True)
    model = LogisticRegression(max_iter=5000, **params).fit(x, y)
    scores = lean_logistic(model)
    assert scores is not None
    for batch in (x, x[:1], x.astype(np.float32)):
        assert np.allclose(scores(batch), model.predict_proba(batch), rtol=1e-12, atol=1e-15)
    joblib.dump(model, tmp_path / "logistic.joblib")
    served = loaded(tmp_path / "logistic.joblib").predict(x)
    assert list(served.predictions) == model.predict(x).tolist()
    assert np.allclose(served.probabilities, model.predict_proba(x), rtol=1e-12, atol=1e-15)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=f"expecting {x.shape[1]} features"):
        scores(x[:, :-1])  # scikit-learn's own check, for a batch no core has checked


def test_a_logistic_regression_with_another_formula_keeps_scikit_learns_path() -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from mlserve.runtimes.sklearn import lean_logistic

    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(x, y)

    def one_vs_rest(batch: np.ndarray) -> np.ndarray:  # older releases' multi_class="ovr"
        positive = 1 / (1 + np.exp(-model.decision_function(batch)))
        return np.asarray(positive / positive.sum(axis=1, keepdims=True))

    model.predict_proba = one_vs_rest
    assert lean_logistic(model) is None

    class OwnLogistic(LogisticRegression):  # type: ignore[misc]
        pass

    assert lean_logistic(OwnLogistic(max_iter=1000).fit(x, y)) is None
