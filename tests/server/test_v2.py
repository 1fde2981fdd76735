"""Open Inference Protocol (V2) against the real server, with NVIDIA's own client
(tritonclient[http]) and with plain HTTP for the error shapes."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

IRIS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)


@pytest.fixture
def client(server_url: str) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(server_url.removeprefix("http://"))


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.get_server_metadata()["name"] == "mlserve"
    meta = client.get_model_metadata("iris")
    assert meta["versions"] == ["v1", "v2"]
    assert meta["platform"] == "sklearn"
    assert meta["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 4]}]
    assert [o["name"] for o in meta["outputs"]] == ["label", "confidence", "probabilities"]
    assert client.is_model_ready("iris", "v1")
    assert client.get_model_metadata("sentiment")["inputs"][0]["datatype"] == "BYTES"


@pytest.mark.parametrize("binary", [True, False])
def test_tabular_infer(client: triton.InferenceServerClient, binary: bool) -> None:
    tensor = triton.InferInput("input", list(IRIS.shape), "FP32")
    tensor.set_data_from_numpy(IRIS, binary_data=binary)
    outputs = [
        triton.InferRequestedOutput(name, binary_data=binary) for name in ("label", "probabilities")
    ]
    result = client.infer("iris", [tensor], outputs=outputs, request_id="req-7")
    labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label")]
    assert labels == ["setosa", "virginica"]
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (2, 3)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert result.get_response()["id"] == "req-7"
    assert result.get_response()["model_version"] == "v2"


def test_infer_without_outputs_gets_all_in_binary(client: triton.InferenceServerClient) -> None:
    tensor = triton.InferInput("input", list(IRIS.shape), "FP64")
    tensor.set_data_from_numpy(IRIS.astype(np.float64))
    result = client.infer("iris", [tensor], model_version="v1")
    assert result.as_numpy("confidence").shape == (2,)
    assert [x.decode() for x in result.as_numpy("label")] == ["setosa", "virginica"]


def test_text_infer(client: triton.InferenceServerClient) -> None:
    texts = np.array([b"I loved this film", b"a dull, tedious mess"], dtype=np.object_)
    tensor = triton.InferInput("text", [2], "BYTES")
    tensor.set_data_from_numpy(texts)
    result = client.infer("sentiment", [tensor])
    assert [x.decode() for x in result.as_numpy("label")] == ["positive", "negative"]


def test_named_features_as_one_tensor_each(server_url: str) -> None:
    body = {
        "inputs": [
            {"name": "age", "shape": [2], "datatype": "INT64", "data": [42, 30]},
            {"name": "income", "shape": [2], "datatype": "FP64", "data": [52000, 1000]},
            {"name": "credit_score", "shape": [2], "datatype": "INT64", "data": [710, 400]},
        ]
    }
    response = httpx.post(server_url + "/v2/models/credit/infer", json=body)
    assert response.status_code == 200
    label = next(o for o in response.json()["outputs"] if o["name"] == "label")
    assert label["shape"] == [2]


def test_regressor_output(server_url: str) -> None:
    body = {
        "inputs": [{"name": "input", "shape": [1, 10], "datatype": "FP64", "data": [0.01] * 10}]
    }
    outputs = httpx.post(server_url + "/v2/models/diabetes/infer", json=body).json()["outputs"]
    assert [o["name"] for o in outputs] == ["prediction"]


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/v2/models/nope/infer", {"inputs": []}, 404, "unknown model"),
        ("/v2/models/iris/versions/v9/infer", {"inputs": []}, 404, "no version"),
        (
            "/v2/models/iris/infer",
            {"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]},
            400,
            "expected 4 features, got 3",
        ),
        (
            "/v2/models/iris/infer",
            {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3]}]},
            400,
            "needs 8 elements",
        ),
        (
            "/v2/models/iris/infer",
            {
                "inputs": [
                    {"name": "input", "shape": [1, 4], "datatype": "FP8", "data": [1, 2, 3, 4]}
                ]
            },
            422,
            "unsupported datatype",
        ),
        (
            "/v2/models/iris/infer",
            {
                "inputs": [
                    {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": ["a", 2, 3, 4]}
                ]
            },
            400,
            "not FP32",
        ),
        ("/v2/models/iris/infer", {"nope": 1}, 422, "'inputs' list"),
        (
            "/v2/models/sentiment/infer",
            {"inputs": [{"name": "text", "shape": [1], "datatype": "FP32", "data": [1]}]},
            422,
            "BYTES",
        ),
        (
            "/v2/models/iris/infer",
            {
                "inputs": [
                    {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}
                ],
                "outputs": [{"name": "nope"}],
            },
            400,
            "unknown output",
        ),
    ],
)
def test_v2_errors(server_url: str, path: str, body: object, status: int, needle: str) -> None:
    response = httpx.post(server_url + path, json=body)
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]


def test_unknown_model_raises_in_the_client(client: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException, match="unknown model"):
        client.get_model_metadata("nope")
