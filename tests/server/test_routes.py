"""The HTTP API of DESIGN.md on the sample models: the real app in process (and, under
`-m slow`, behind Ray Serve)."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import pytest

SETOSA = [5.1, 3.5, 1.4, 0.2]
VIRGINICA = [6.7, 3.0, 5.2, 2.3]
CREDIT_OK = {"age": 42, "income": 52000, "credit_score": 710}


def post(server: httpx.Client, path: str, body: object) -> httpx.Response:
    return server.post(path, json=body)


def test_predict_default_model_and_version(server: httpx.Client) -> None:
    response = post(server, "/predict", {"features": SETOSA})
    assert response.status_code == 200
    body = response.json()
    assert (body["model"], body["version"]) == ("iris", "v2")
    assert body["prediction"] == "setosa"
    assert set(body["probabilities"]) == {"setosa", "versicolor", "virginica"}
    assert body["confidence"] == max(body["probabilities"].values())
    assert math.isclose(sum(body["probabilities"].values()), 1.0)
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    "path", ["/versions/v1/predict", "/models/iris/versions/v1/predict", "/v1/predict"]
)
def test_version_routes(server: httpx.Client, path: str) -> None:
    answer = post(server, path, {"features": VIRGINICA})
    body = answer.json()
    assert (body["model"], body["version"]) == ("iris", "v1")
    assert body["prediction"] == "virginica"  # manifest labels on a model fit on 0/1/2
    assert ("deprecation" in answer.headers) == (path == "/v1/predict")


def test_the_legacy_version_routes_say_what_replaces_them(app_client: httpx.Client) -> None:
    answer = app_client.post("/v2/predict/batch", json={"inputs": [VIRGINICA]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["version"] == "v2"  # the default model's v2, as before
    assert answer.headers["deprecation"] == "true"
    assert answer.headers["link"] == '</versions/v2/predict/batch>; rel="successor-version"'
    successor = app_client.post("/versions/v2/predict/batch", json={"inputs": [VIRGINICA]})
    assert successor.json() == answer.json()
    assert "deprecation" not in successor.headers
    operations = app_client.get("/openapi.json").json()["paths"]
    assert operations["/{version}/predict"]["post"]["deprecated"] is True
    assert "deprecated" not in operations["/versions/{version}/predict"]["post"]


def test_batch_keeps_order(server: httpx.Client) -> None:
    rows = [SETOSA, VIRGINICA, SETOSA]
    body = post(server, "/models/iris/predict/batch", {"inputs": rows}).json()
    assert [p["prediction"] for p in body["predictions"]] == ["setosa", "virginica", "setosa"]
    assert body["version"] == "v2"


def test_named_features_and_columns(server: httpx.Client) -> None:
    single = post(server, "/models/credit/predict", CREDIT_OK).json()
    assert single["prediction"] in {"approved", "denied"}
    wrapped = post(server, "/models/credit/predict", {"features": CREDIT_OK}).json()
    assert wrapped == single
    listed = post(server, "/models/credit/predict", {"features": [42, 52000, 710]}).json()
    assert listed == single
    batch = post(
        server,
        "/models/credit/predict/batch",
        {"inputs": [[710, 42, 52000]], "columns": ["credit_score", "age", "income"]},
    )
    assert batch.json()["predictions"][0] == {k: single[k] for k in batch.json()["predictions"][0]}


def test_regressor_returns_a_float_and_lazy_model_loads(server: httpx.Client) -> None:
    body = post(server, "/models/diabetes/predict", {"features": [0.01] * 10}).json()
    assert isinstance(body["prediction"], float)
    assert "probabilities" not in body
    states = server.get("/ready").json()["models"]
    assert {"model": "diabetes", "status": "ready"}.items() <= next(
        s for s in states if s["model"] == "diabetes"
    ).items()


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/predict", {"features": [5.1, 3.5, 1.4]}, 400, "expected 4 features, got 3"),
        ("/predict", {"features": []}, 400, "empty"),
        ("/predict", {"features": ["a", 1, 2, 3]}, 422, "expected a number, got a string 'a'"),
        ("/predict", {"features": [1, None, 2, 3]}, 422, "feature 1: expected a number, got null"),
        ("/predict", {"features": [[1, 2, 3, 4]]}, 400, "/predict/batch"),
        ("/predict", {"feature": [1, 2, 3, 4]}, 422, "missing field 'features'"),
        ("/predict", [1, 2, 3, 4], 422, "expected a JSON object"),
        ("/predict", {"features": [1, 2, 3, 4], "x": 1}, 422, "unexpected field"),
        ("/predict/batch", {"inputs": []}, 400, "empty"),
        ("/predict/batch", {"inputs": [[1, 2, 3, 4], [1, 2, 3]]}, 400, "row 1 has 3 features"),
        ("/predict/batch", {"inputs": [[1, 2, 3, 4], "x"]}, 422, "row 1: expected a list"),
        ("/predict/batch", {"inputs": [[1, 2, 3]]}, 400, "expected 4 features, got 3"),
        ("/predict/batch", {"rows": []}, 422, "missing field 'inputs'"),
        (
            "/models/credit/predict",
            {**CREDIT_OK, "age": 12},
            422,
            "field 'age' must be >= 18, got 12",
        ),
        (
            "/models/credit/predict",
            {**CREDIT_OK, "credit_score": 900},
            422,
            "field 'credit_score' must be <= 850, got 900",
        ),
        ("/models/credit/predict", {**CREDIT_OK, "age": 42.5}, 422, "must be an integer"),
        (
            "/models/credit/predict",
            {**CREDIT_OK, "age": "42"},
            422,
            "field 'age': expected a number",
        ),
        ("/models/credit/predict", {"age": 42, "income": 1}, 422, "missing field 'credit_score'"),
        ("/models/credit/predict", {**CREDIT_OK, "agee": 1}, 422, "unknown field 'agee'"),
        ("/models/credit/predict", {**CREDIT_OK, "income": -5}, 422, "'income' must be >= 0"),
        (
            "/models/credit/predict/batch",
            {"inputs": [CREDIT_OK, {**CREDIT_OK, "age": 101}]},
            422,
            "field 'age' (row 1) must be <= 100",
        ),
        ("/models/nope/predict", {"features": SETOSA}, 404, "unknown model 'nope'"),
        ("/models/iris/versions/v9/predict", {"features": SETOSA}, 404, "no version 'v9'"),
        ("/v9/predict", {"features": SETOSA}, 404, "no version 'v9'"),
        ("/models/iris/classify", {"text": "hello"}, 400, "takes tabular input"),
    ],
)
def test_bad_input_is_a_clear_4xx(
    server: httpx.Client, path: str, body: object, status: int, needle: str | None
) -> None:
    response = post(server, path, body)
    assert response.status_code == status, response.text
    error = response.json()
    assert set(error) >= {"error", "message"}
    if needle:
        assert needle in error["message"]


def test_nan_and_infinity_tokens(server: httpx.Client) -> None:
    for token in (b"NaN", b"Infinity", b"-Infinity", b"1e400"):
        response = server.post(
            "/predict",
            content=b'{"features": [%s, 1, 2, 3]}' % token,
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 400
        assert "JSON" in response.json()["message"]
    huge = server.post(
        "/predict",
        content=b'{"features": [%s, 1, 2, 3]}' % (b"9" * 400),
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 400


def test_malformed_empty_and_wrong_content_type(server: httpx.Client) -> None:
    headers = {"content-type": "application/json"}
    bad = server.post("/predict", content=b'{"features": [1,', headers=headers)
    assert bad.status_code == 400
    assert "malformed JSON" in bad.json()["message"]
    empty = server.post("/predict", content=b"", headers=headers)
    assert empty.status_code == 400
    assert "empty request body" in empty.json()["message"]
    text = server.post("/predict", content=b"5.1,3.5", headers={"content-type": "text/csv"})
    assert text.status_code == 415
    assert "application/json" in text.json()["message"]


def test_unknown_route_and_method_are_json(server: httpx.Client) -> None:
    missing = server.get("/nowhere")
    assert missing.status_code == 404
    assert "see /docs" in missing.json()["message"]
    wrong = server.get("/predict")
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"


def test_health_ready_info_docs(server: httpx.Client) -> None:
    assert server.get("/health").json() == {"status": "ok"}
    ready = server.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    info = server.get("/model/info").json()
    assert info["default_model"] == "iris"
    by_key = {(m["model"], m["version"]): m for m in info["models"]}
    assert set(by_key) == {
        ("iris", "v1"),
        ("iris", "v2"),
        ("credit", "v1"),
        ("credit", "xgboost"),
        ("credit", "lightgbm"),
        ("diabetes", "v1"),
        ("iris-torch", "v1"),
        ("digits", "v1"),
        ("iris-onnx", "v1"),
        ("digits-onnx", "v1"),
        ("sentiment", "v1"),
    }
    iris = by_key[("iris", "v2")]
    assert iris["default"] is True
    assert iris["status"] == "ready"
    assert iris["framework"] == "scikit-learn"
    assert iris["framework_version"]
    assert iris["n_features"] == 4
    assert iris["labels"] == ["setosa", "versicolor", "virginica"]
    assert iris["device"] == "cpu"
    assert [f["name"] for f in by_key[("credit", "v1")]["inputs"]] == [
        "age",
        "income",
        "credit_score",
    ]
    assert by_key[("credit", "v1")]["inputs"][0] == {
        "name": "age",
        "type": "int",
        "min": 18,
        "max": 100,
    }
    one = server.get("/models/credit").json()
    assert [(m["model"], m["version"]) for m in one["models"]] == [
        ("credit", "v1"),
        ("credit", "xgboost"),
        ("credit", "lightgbm"),
    ]
    assert server.get("/models/nope").status_code == 404
    assert server.get("/docs").status_code == 200
    spec = server.get("/openapi.json").json()
    assert "/models/{name}/versions/{version}/predict" in spec["paths"]
    assert "requestBody" in spec["paths"]["/predict"]["post"]


def test_request_id_is_echoed(server: httpx.Client) -> None:
    response = server.get("/health", headers={"X-Request-ID": "abc-123"})
    # Ray Serve's proxy repeats the header ("abc-123, abc-123"); the id is the same.
    assert response.headers.get_list("x-request-id") == ["abc-123"]


def test_seed_routes_reach_the_default_model_of_their_kind(
    server: httpx.Client, samples: Path
) -> None:
    """The seed's `POST /classify {"text": ...}` went to iris (tabular) and failed."""
    body = post(server, "/classify", {"text": "I loved this film"}).json()
    assert (body["model"], body["text"], body["label"]) == (
        "sentiment",
        "I loved this film",
        "positive",
    )
    assert body["prediction"] == body["label"]
    assert body["confidence"] > 0.5
    batch = post(server, "/classify", {"texts": ["I loved this film", "a dull, tedious mess"]})
    rows = batch.json()["predictions"]
    assert [(r["text"], r["label"]) for r in rows] == [
        ("I loved this film", "positive"),
        ("a dull, tedious mess", "negative"),
    ]
    assert post(server, "/predict", {"features": SETOSA}).json()["model"] == "iris"
    digit = (samples / "digits" / "7.png").read_bytes()
    image = server.post("/predict/image", files={"file": ("7.png", digit)}, timeout=30)
    assert (image.json()["model"], image.json()["prediction"]) == ("digits", "7")


def test_finite_inputs_that_overflow_a_model_are_a_500_naming_it(server: httpx.Client) -> None:
    """Was a 200 with `confidence: null` and an arbitrary label."""
    response = post(server, "/models/iris-torch/predict", {"features": [1e38] * 4})
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "inference_failed"
    assert "iris-torch:v1 produced NaN or infinite output" in body["message"]
    assert body["request_id"] == response.headers["x-request-id"]


def test_named_feature_rows_get_the_float32_range_check(server: httpx.Client) -> None:
    row = {"age": 42, "income": 1e39, "credit_score": 710}
    for path, body in (
        ("/models/credit/predict", row),
        ("/models/credit/predict/batch", {"inputs": [row]}),
    ):
        response = post(server, path, body)
        assert response.status_code == 400, response.text
        assert "1e+39 is out of range" in response.json()["message"]


def test_the_model_lists_answer_where_clients_look_first(server: httpx.Client) -> None:
    listed = server.get("/models")
    assert listed.status_code == 200
    assert listed.json()["models"] == server.get("/model/info").json()["models"]
    v2 = server.get("/v2/models")
    assert v2.status_code == 200
    by_name = {m["name"]: m for m in v2.json()["models"]}
    assert by_name["iris"]["versions"] == ["v1", "v2"]
    assert by_name["iris"]["platform"] == "sklearn"
    assert {"credit", "sentiment", "digits"} <= set(by_name)
