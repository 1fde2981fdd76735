"""One conformance suite that every runtime passes (the scikit-learn `check_estimator` idea).

Each case is a real model built by the sample builder plus an example batch; new runtimes add
a case here, not a new suite.
"""

from __future__ import annotations

import contextlib
import gc
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlserve.config.schema import ModelSpec
from mlserve.runtimes import resolve_runtime
from mlserve.runtimes._base import Batch, Runtime, RuntimeInfo


@dataclass
class Case:
    spec: Callable[[Path], ModelSpec]
    batch: Batch
    task: str


def manifest_entry(**fields: Any) -> ModelSpec:
    """A manifest entry: its runtime's own options (model_class, input, ...) are validated by
    that runtime's options model, which the type checker cannot see as keywords."""
    return ModelSpec.model_validate(fields)


CREDIT_ROWS = np.array([[41, 52000, 710], [23, 9000, 420], [67, 150000, 820]], dtype=float)

CASES: dict[str, Case] = {
    "sklearn-classifier": Case(
        lambda d: manifest_entry(name="iris", runtime="sklearn", path=d / "iris-v2.joblib"),
        np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]),
        "classification",
    ),
    "sklearn-manifest-labels": Case(
        lambda d: manifest_entry(
            name="iris", runtime="sklearn", path=d / "iris-v1.joblib", labels=["a", "b", "c"]
        ),
        np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]),
        "classification",
    ),
    "sklearn-regressor": Case(
        lambda d: manifest_entry(name="diabetes", runtime="sklearn", path=d / "diabetes.joblib"),
        np.random.default_rng(0).normal(0, 0.05, (4, 10)),
        "regression",
    ),
    "torch-tabular": Case(
        lambda d: manifest_entry(
            name="iris-torch",
            runtime="torch",
            path=d / "iris-mlp.safetensors",
            model_class="nets:IrisMLP",
            model_kwargs={"hidden": 16},
        ),
        np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]),
        "classification",
    ),
    "torch-image": Case(
        lambda d: manifest_entry(
            name="digits", runtime="torch", path=d / "digits.pt2", input="image"
        ),
        np.random.default_rng(0).random((3, 1, 8, 8)).astype(np.float32),
        "classification",
    ),
    "sklearn-skops": Case(
        lambda d: manifest_entry(
            name="iris",
            runtime="sklearn",
            path=d / "iris-v2.skops",
            trusted_types=["sklearn.tree._tree.Tree"],
        ),
        np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]),
        "classification",
    ),
    "xgboost-classifier": Case(
        lambda d: manifest_entry(
            name="credit", runtime="xgboost", path=d / "credit-xgb.json", labels=["yes", "no"]
        ),
        CREDIT_ROWS,
        "classification",
    ),
    "lightgbm-classifier": Case(
        lambda d: manifest_entry(name="credit", runtime="lightgbm", path=d / "credit-lgbm.txt"),
        CREDIT_ROWS,
        "classification",
    ),
    "onnx-converted-pipeline": Case(
        lambda d: manifest_entry(name="iris", runtime="onnx", path=d / "iris-v1.onnx"),
        np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]),
        "classification",
    ),
    "onnx-image-network": Case(
        lambda d: manifest_entry(
            name="digits", runtime="onnx", path=d / "digits.onnx", input="image"
        ),
        np.random.default_rng(0).random((3, 1, 8, 8)).astype(np.float32),
        "classification",
    ),
    "transformers": Case(
        lambda d: manifest_entry(name="sentiment", runtime="transformers", path=d / "sentiment"),
        ["I loved this film", "a dull, tedious mess that went on and on", "ok"],
        "classification",
    ),
}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest, samples: Path) -> tuple[Runtime, Case]:
    chosen = CASES[request.param]
    spec = chosen.spec(samples)
    runtime = resolve_runtime(spec.runtime)(spec)
    runtime.load()
    return runtime, chosen


def test_constructor_touches_no_file(samples: Path) -> None:
    for chosen in CASES.values():
        spec = chosen.spec(samples).model_copy(update={"path": samples / "missing.bin"})
        runtime = resolve_runtime(spec.runtime)(spec)  # must not raise
        with pytest.raises(Exception):  # noqa: B017, PT011 - each framework raises its own
            runtime.load()


def test_describe_is_consistent(case: tuple[Runtime, Case]) -> None:
    runtime, chosen = case
    info = runtime.describe()
    assert info.task == chosen.task
    assert info.framework
    assert info.framework_version
    assert info.device
    if info.task == "classification":
        assert info.labels
        assert all(isinstance(label, str) for label in info.labels)
    if info.input_kind == "tabular" and isinstance(chosen.batch, np.ndarray):
        assert info.n_features in (None, chosen.batch.shape[1])
    if runtime.spec.labels:
        assert info.labels == runtime.spec.labels


def test_predict_gives_one_answer_per_row(case: tuple[Runtime, Case]) -> None:
    runtime, chosen = case
    result = runtime.predict(chosen.batch)
    info = runtime.describe()
    assert len(result) == len(chosen.batch)
    if info.task == "regression":
        assert all(isinstance(p, float) for p in result.predictions)
        assert result.probabilities is None
        return
    assert result.probabilities is not None
    assert result.labels == info.labels
    assert result.probabilities.shape == (len(chosen.batch), len(info.labels or []))
    assert np.allclose(result.probabilities.sum(axis=1), 1.0, atol=1e-5)
    best = result.probabilities.argmax(axis=1)
    assert [str(p) for p in result.predictions] == [info.labels[i] for i in best]  # type: ignore[index]


def test_batching_does_not_change_answers(case: tuple[Runtime, Case]) -> None:
    """A row's answer is the same alone or inside a batch: coalescing is safe."""
    runtime, chosen = case
    together = runtime.predict(chosen.batch)
    for i in range(len(chosen.batch)):
        alone = runtime.predict(chosen.batch[i : i + 1])
        if isinstance(alone.predictions[0], float):
            assert alone.predictions[0] == pytest.approx(together.predictions[i], rel=1e-5)
        else:
            assert alone.predictions[0] == together.predictions[i]
        if together.probabilities is not None:
            assert alone.probabilities is not None
            assert np.allclose(alone.probabilities[0], together.probabilities[i], atol=1e-5)


def test_slicing_a_prediction_keeps_rows(case: tuple[Runtime, Case]) -> None:
    runtime, chosen = case
    result = runtime.predict(chosen.batch)
    part = result.slice(1, 2)
    assert part.predictions == result.predictions[1:2]


def test_unload_frees_what_the_runtime_holds_while_the_runtime_is_still_held(
    case: tuple[Runtime, Case],
) -> None:
    """What `load` took goes at `unload()`, not when the last reference to the runtime does:
    a late request, a log record or a traceback may still hold the runtime object."""
    runtime, _ = case
    held = _weak_refs_to_what(runtime)
    assert held, "the runtime holds nothing a weak reference can follow"
    runtime.unload()
    gc.collect()
    alive = [name for name, ref in held.items() if ref() is not None]
    assert alive == []


def _weak_refs_to_what(runtime: Runtime) -> dict[str, weakref.ref[Any]]:
    """Weak references to the runtime's own objects that load made (not its spec)."""
    refs = {}
    for name, value in vars(runtime).items():
        if name == "spec" or isinstance(value, str | int | float | bool | tuple | RuntimeInfo):
            continue
        if isinstance(value, type):  # a class the framework defines (a dtype), not a model
            continue
        with contextlib.suppress(TypeError):  # values that take no weak reference
            refs[name] = weakref.ref(value)
    return refs
