"""A broken model never takes the others or the server down."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.models import fragile_classifier
from tests.support import write_manifest

IRIS = {"features": [5.1, 3.5, 1.4, 0.2]}


def test_corrupt_and_vanished_models_fail_alone(
    tmp_path: Path, samples: Path, serve_manifest: Callable[..., str]
) -> None:
    shutil.copy(samples / "iris-v2.joblib", tmp_path / "iris.joblib")
    shutil.copy(samples / "iris-v1.joblib", tmp_path / "later.joblib")
    (tmp_path / "corrupt.joblib").write_bytes(b"garbage, not a pickle")
    url = serve_manifest(
        write_manifest(
            tmp_path,
            """
models:
  - {name: iris, runtime: sklearn, path: iris.joblib}
  - {name: broken, runtime: sklearn, path: corrupt.joblib}
  - {name: later, runtime: sklearn, path: later.joblib, load: lazy}
""",
        )
    )
    (tmp_path / "later.joblib").unlink()  # gone before its first use
    assert httpx.post(url + "/models/iris/predict", json=IRIS).status_code == 200
    broken = httpx.post(url + "/models/broken/predict", json=IRIS)
    assert broken.status_code == 503
    assert "failed to load" in broken.json()["message"]
    assert "retry-after" not in broken.headers  # nothing retries a failed load
    later = httpx.post(url + "/models/later/predict", json=IRIS)
    assert later.status_code == 503
    assert "model file not found" in later.json()["message"]
    ready = httpx.get(url + "/ready")
    assert ready.status_code == 503
    states = {m["model"]: m for m in ready.json()["models"]}
    assert states["broken"]["status"] == "failed"
    assert states["broken"]["reason"]
    assert states["iris"]["status"] == "ready"
    assert httpx.get(url + "/health").status_code == 200
    assert httpx.post(url + "/models/iris/predict", json=IRIS).status_code == 200


def test_a_model_that_raises_gives_500_with_request_id(
    tmp_path: Path, serve_manifest: Callable[..., str]
) -> None:
    fragile_classifier(str(tmp_path / "fragile.joblib"))
    url = serve_manifest(
        write_manifest(
            tmp_path,
            """
models:
  - {name: fragile, runtime: sklearn, path: fragile.joblib, batching: {max_batch_size: 16}}
""",
        )
    )
    bad = httpx.post(url + "/predict", json={"features": [-1, 1, 1, 1]})
    assert bad.status_code == 500
    body = bad.json()
    assert body["error"] == "inference_failed"
    assert body["request_id"] == bad.headers["x-request-id"]
    assert "Traceback" not in bad.text
    assert "negative values" not in body["message"]  # details stay in the server log
    good = httpx.post(url + "/predict", json={"features": [5.1, 3.5, 1.4, 0.2]})
    assert good.status_code == 200
