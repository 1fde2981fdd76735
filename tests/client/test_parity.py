"""Remote and --local answer with the same JSON, for every sample model."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from mlserve.client import LocalClient, RemoteClient
from mlserve.errors import MlserveError

CASES: list[tuple[str, str | None, str | None, Any]] = [
    ("predict", "iris", None, {"features": [5.1, 3.5, 1.4, 0.2]}),
    ("predict", "iris", "v1", {"features": [6.0, 2.2, 5.0, 1.5]}),
    ("predict", None, None, {"features": [6.7, 3.0, 5.2, 2.3]}),
    ("predict_batch", "iris", None, {"inputs": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}),
    ("predict", "credit", None, {"age": 42, "income": 52000, "credit_score": 710}),
    (
        "predict_batch",
        "credit",
        None,
        {"inputs": [{"age": 30, "income": 1000, "credit_score": 400}]},
    ),
    (
        "predict",
        "diabetes",
        None,
        {"features": [0.03, -0.04, 0.06, 0.02, -0.04, -0.03, -0.04, 0.0, 0.02, -0.01]},
    ),
    ("predict", "iris-torch", None, {"features": [5.9, 3.0, 4.2, 1.5]}),
    ("predict_batch", "iris-torch", None, {"inputs": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}),
    ("classify", "sentiment", None, {"text": "I loved this film"}),
    ("classify", "sentiment", None, {"texts": ["a dull, tedious mess", "great fun"]}),
    ("predict_image", "digits", None, "digits/7.png"),  # a file under sample_models/
    ("predict", "credit", "xgboost", {"age": 42, "income": 52000, "credit_score": 710}),
    (
        "predict_batch",
        "credit",
        "lightgbm",
        {"inputs": [{"age": 30, "income": 1000, "credit_score": 400}]},
    ),
    ("predict", "iris-onnx", None, {"features": [5.9, 3.0, 4.2, 1.5]}),
    ("predict_image", "digits-onnx", None, "digits/3.png"),
]


@pytest.fixture(scope="module")
def local(sample_manifest: Path) -> Any:
    client = LocalClient(sample_manifest)
    yield client
    client.close()


@pytest.mark.parametrize(("operation", "model", "version", "payload"), CASES)
def test_remote_equals_local(
    live_server: str,
    local: LocalClient,
    samples: Path,
    operation: Any,
    model: str | None,
    version: str | None,
    payload: Any,
) -> None:
    if isinstance(payload, str):
        payload = {"image_base64": base64.b64encode((samples / payload).read_bytes()).decode()}
    remote = RemoteClient(live_server)
    try:
        assert remote.run(operation, payload, model, version) == local.run(
            operation, payload, model, version
        )
    finally:
        remote.close()


def test_errors_are_the_same_type_and_message(live_server: str, local: LocalClient) -> None:
    remote = RemoteClient(live_server)
    payload = {"age": 12, "income": 1, "credit_score": 500}
    errors = []
    for client in (remote, local):
        with pytest.raises(MlserveError) as info:
            client.run("predict", payload, "credit")
        errors.append((type(info.value).__name__, str(info.value)))
    remote.close()
    assert errors[0] == errors[1]
    assert errors[0][0] == "SchemaViolation"
