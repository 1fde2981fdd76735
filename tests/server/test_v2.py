"""Open Inference Protocol (V2) against the real server, with NVIDIA's own client
(tritonclient[http]) and with plain HTTP for the error shapes."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.support import write_manifest

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
    assert meta["properties"]["framework"] == "scikit-learn"
    assert meta["properties"]["framework_version"]
    assert meta["properties"]["engine"] == "scikit-learn"
    onnx = client.get_model_metadata("iris-onnx")
    assert onnx["platform"] == "onnxruntime_onnx"
    assert onnx["properties"]["framework"] == "onnxruntime"
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


def test_big_binary_tensors_answer_as_json_rows_do(
    client: triton.InferenceServerClient, server_url: str
) -> None:
    """5,000 rows (160 kB: the connection reads such a body whole, into one buffer), twice on
    one kept-alive connection, give the labels the JSON batch route gives the same rows."""
    rows = np.random.default_rng(7).uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], (5000, 4))
    batch = httpx.post(server_url + "/models/iris/predict/batch", json={"inputs": rows.tolist()})
    expected = [p["prediction"] for p in batch.json()["predictions"]]
    assert len(set(expected)) == 3
    tensor = triton.InferInput("input", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows, binary_data=True)
    for _ in range(2):
        result = client.infer("iris", [tensor], outputs=[triton.InferRequestedOutput("label")])
        assert [x.decode() for x in result.as_numpy("label")] == expected


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


HOSTILE_BODIES = [
    {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "UINT8", "data": [300, 1, 2, 3]}]},
    {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "INT8", "data": [1000, 1, 2, 3]}]},
    {"inputs": [{"name": "input", "shape": [2**62, 4], "datatype": "FP32", "data": []}]},
    {"inputs": [{"name": "input", "shape": [True, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]},
    {
        "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
        "parameters": 7,
    },
    {
        "inputs": [
            {
                "name": "input",
                "shape": [1, 4],
                "datatype": "FP32",
                "data": [1, 2, 3, 4],
                "parameters": [],
            }
        ]
    },
    {
        "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
        "outputs": [{"name": 3}],
    },
    {
        "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
        "outputs": [{"name": "label", "parameters": "x"}],
    },
    {
        "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
        "id": 42,
    },
    {
        "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
        "outputs": ["label"],
    },
    {
        "inputs": [
            {
                "name": "input",
                "shape": [1, 4],
                "datatype": "FP32",
                "parameters": {"binary_data_size": -4},
            }
        ]
    },
    {"inputs": [{"name": "nope", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]},
    {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}] * 2},
]


def test_hostile_v2_bodies_are_4xx_and_keep_the_connection(live_server: str) -> None:
    """Each was a 500 (closing the keep-alive connection, so the client's next pooled request
    failed too) or silently accepted."""
    good = {
        "inputs": [
            {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}
        ]
    }
    with httpx.Client(base_url=live_server, limits=httpx.Limits(max_connections=1)) as client:
        for body in HOSTILE_BODIES:
            response = client.post("/v2/models/iris/infer", json=body)
            assert 400 <= response.status_code < 500, (body, response.text)
            assert set(response.json()) == {"error"}, response.text
            assert response.headers.get("connection") != "close"
            assert client.post("/v2/models/iris/infer", json=good).status_code == 200


def test_unknown_and_duplicate_tensor_names_are_named(live_server: str) -> None:
    unknown = httpx.post(live_server + "/v2/models/iris/infer", json=HOSTILE_BODIES[-2])
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "unknown input tensor 'nope'; model 'iris' takes input"
    twice = httpx.post(live_server + "/v2/models/iris/infer", json=HOSTILE_BODIES[-1])
    assert twice.json()["error"] == "input 'input' appears twice"
    named = {
        "inputs": [
            {"name": "age", "shape": [1], "datatype": "INT64", "data": [42]},
            {"name": "income", "shape": [1], "datatype": "FP64", "data": [52000]},
        ]
    }
    missing = httpx.post(live_server + "/v2/models/credit/infer", json=named)
    assert missing.json()["error"] == "missing input tensor 'credit_score'"


def test_per_output_binary_false_overrides_binary_data_output(live_server: str) -> None:
    body = {
        "id": "r1",
        "parameters": {"binary_data_output": True},
        "inputs": [
            {"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}
        ],
        "outputs": [
            {"name": "label", "parameters": {"binary_data": False}},
            {"name": "confidence"},
        ],
    }
    response = httpx.post(live_server + "/v2/models/iris/infer", json=body)
    assert response.status_code == 200
    header_length = int(response.headers["inference-header-content-length"])
    header = orjson.loads(response.content[:header_length])
    outputs = {o["name"]: o for o in header["outputs"]}
    assert outputs["label"]["data"] == ["setosa"]  # JSON, as its own flag says
    assert "data" not in outputs["confidence"]  # binary, as the request says
    assert outputs["confidence"]["parameters"]["binary_data_size"] == 8
    assert len(response.content) == header_length + 8
    assert header["id"] == "r1"


def test_v2_server_metadata_answers_with_a_trailing_slash(live_server: str) -> None:
    """The official spec writes the route as /v2/."""
    assert httpx.get(live_server + "/v2/").json()["name"] == "mlserve"


def test_a_lazy_model_is_not_ready_until_used_and_never_a_5xx(
    samples: Path, tmp_path: Path, serve_manifest: Callable[..., str]
) -> None:
    url = serve_manifest(
        write_manifest(
            tmp_path,
            f"""
models:
  - {{name: later, runtime: sklearn, path: {samples / "iris-v1.joblib"}, load: lazy}}
""",
        )
    )
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    waiting = httpx.get(url + "/v2/models/later/ready")
    assert waiting.status_code == 400  # as Triton answers; tritonclient reads the status
    assert waiting.json() == {"name": "later", "ready": False}
    assert not client.is_model_ready("later")
    tensor = triton.InferInput("input", [1, 4], "FP64")
    tensor.set_data_from_numpy(IRIS[:1].astype(np.float64))
    client.infer("later", [tensor])
    assert client.is_model_ready("later")
    assert httpx.get(url + "/v2/models/nope/ready").status_code == 404


def test_image_infer_binary_and_base64(
    client: triton.InferenceServerClient, server_url: str, samples: Path
) -> None:
    png = (samples / "digits" / "7.png").read_bytes()
    tensor = triton.InferInput("image", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([png], dtype=np.object_), binary_data=True)
    label = client.infer("digits", [tensor]).as_numpy("label")
    assert [x.decode() for x in label] == ["7"]
    as_json = {
        "inputs": [
            {
                "name": "image",
                "shape": [1],
                "datatype": "BYTES",
                "data": [base64.b64encode(png).decode()],
            }
        ]
    }
    answer = httpx.post(server_url + "/v2/models/digits/infer", json=as_json).json()
    assert next(o for o in answer["outputs"] if o["name"] == "label")["data"] == ["7"]
    as_json["inputs"][0]["data"] = ["%%% not base64"]
    refused = httpx.post(server_url + "/v2/models/digits/infer", json=as_json)
    assert refused.status_code == 400
    assert "not valid base64" in refused.json()["error"]
