"""`accelerate: onnx`: every sample tree ensemble and linear model, converted at load, gives the
original's labels and probabilities within 1e-5; a conversion that disagrees, or none, leaves
the original serving with the reason in the log and the model's info."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris

from mlserve.config.schema import ModelSpec
from mlserve.runtimes import resolve_runtime
from mlserve.runtimes._base import Runtime
from sample_models.build import credit_data
from tests.support import write_manifest

IRIS = load_iris().data
CREDIT_TEST = credit_data()[1]
DIABETES = load_diabetes().data
SAMPLES: dict[str, tuple[str, str, dict[str, object], np.ndarray]] = {
    "iris v1 (scaler + logistic regression)": ("sklearn", "iris-v1.joblib", {}, IRIS),
    "iris v2 (random forest)": ("sklearn", "iris-v2.joblib", {}, IRIS),
    "credit v1 (pipeline)": ("sklearn", "credit.joblib", {}, CREDIT_TEST),
    "credit xgboost": ("xgboost", "credit-xgb.json", {}, CREDIT_TEST),
    "credit lightgbm": ("lightgbm", "credit-lgbm.txt", {}, CREDIT_TEST),
    "diabetes (ridge)": ("sklearn", "diabetes.joblib", {}, DIABETES),
}


def runtime_for(runtime: str, path: Path, **options: object) -> Runtime:
    spec = ModelSpec(name="m", runtime=runtime, path=path, **options)
    served = resolve_runtime(runtime)(spec)
    served.load()
    return served


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_the_conversion_equals_the_original(samples: Path, sample: str) -> None:
    runtime, file, options, rows = SAMPLES[sample]
    original = runtime_for(runtime, samples / file, **options)
    fast = runtime_for(runtime, samples / file, accelerate="onnx", **options)
    assert fast.describe().engine is not None, fast.describe().notes
    assert fast.describe().engine.startswith("onnxruntime")  # type: ignore[union-attr]
    want, got = original.predict(rows), fast.predict(rows)
    if want.probabilities is None:  # a regressor: values within the tolerance
        assert np.allclose(got.predictions, want.predictions, rtol=1e-5)
    else:  # a classifier: the same label for every row
        assert list(got.predictions) == list(want.predictions)
    if want.probabilities is not None:
        assert got.probabilities is not None
        assert np.abs(got.probabilities - want.probabilities).max() <= 1e-5


def test_a_disagreeing_conversion_is_not_served(
    samples: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mlserve.runtimes._onnx_compile"):
        served = runtime_for(
            "sklearn", samples / "iris-v2.joblib", accelerate="onnx", tolerance=1e-12
        )
    info = served.describe()
    assert info.engine is None
    assert any("serving the original model: the conversion differs" in n for n in info.notes)
    assert "serving the original model" in caplog.text


def test_probe_rows_come_from_the_manifests_file(samples: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe.csv"
    np.savetxt(probe, IRIS[:20], delimiter=",")
    served = runtime_for("sklearn", samples / "iris-v2.joblib", accelerate="onnx", probe=probe)
    assert served.describe().engine is not None
    probe.write_text("1,2\n3,4\n")
    with pytest.raises(ValueError, match="probe file has 2 columns; the model takes 4"):
        runtime_for("sklearn", samples / "iris-v2.joblib", accelerate="onnx", probe=probe)


def test_info_shows_the_engine_that_serves(
    samples: Path, tmp_path: Path, serve_manifest: Callable[..., str]
) -> None:
    manifest = write_manifest(
        tmp_path,
        f"""
models:
  - {{name: forest, version: native, runtime: sklearn, path: {samples / "iris-v2.joblib"}}}
  - {{name: forest, version: fast, runtime: sklearn, path: {samples / "iris-v2.joblib"},
      accelerate: onnx}}
""",
    )
    url = serve_manifest(manifest)
    engines = {m["version"]: m["engine"] for m in httpx.get(url + "/model/info").json()["models"]}
    assert engines["native"] == "scikit-learn"
    assert engines["fast"].startswith("onnxruntime")
    rows = {"inputs": IRIS[::7].tolist()}
    native = httpx.post(url + "/models/forest/versions/native/predict/batch", json=rows).json()
    fast = httpx.post(url + "/models/forest/versions/fast/predict/batch", json=rows).json()
    for a, b in zip(native["predictions"], fast["predictions"], strict=True):
        assert a["prediction"] == b["prediction"]
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)
