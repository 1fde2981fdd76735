"""The OpenAPI document tells the truth: every body the server accepts is documented, model
names and named inputs (with bounds) are in it, operationIds are short, and /docs and /redoc
need nothing from the network."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator


@pytest.fixture(scope="module")
def spec(app_client: httpx.Client) -> dict[str, Any]:
    document: dict[str, Any] = app_client.get("/openapi.json").json()
    return document


def body_validator(spec: dict[str, Any], path: str, media: str = "application/json") -> Any:
    schema = spec["paths"][path]["post"]["requestBody"]["content"][media]["schema"]
    return Draft202012Validator({**schema, "components": spec["components"]})


def test_operation_ids_are_short_and_unique(spec: dict[str, Any]) -> None:
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert max(len(i) for i in ids) <= 32, max(ids, key=len)
    assert "predict_batch_model_version" in ids
    assert "v2_infer" in ids


def test_the_bodies_the_server_accepts_are_the_documented_ones(spec: dict[str, Any]) -> None:
    predict = body_validator(spec, "/models/{name}/predict")
    for body in (
        {"features": [5.1, 3.5, 1.4, 0.2]},
        {"features": {"age": 42, "income": 52000, "credit_score": 710}},
        {
            "age": 42,
            "income": 52000,
            "credit_score": 710,
        },  # a named model's row, as the README shows
    ):
        assert predict.is_valid(body), body
    assert not predict.is_valid({"age": 12, "income": 52000, "credit_score": 710})  # under min
    batch = body_validator(spec, "/models/{name}/predict/batch")
    assert batch.is_valid(
        {"inputs": [[710, 42, 52000]], "columns": ["credit_score", "age", "income"]}
    )
    assert batch.is_valid({"inputs": [{"age": 42, "income": 52000, "credit_score": 710}]})
    classify = body_validator(spec, "/classify")
    assert classify.is_valid({"text": "hi"})
    assert classify.is_valid({"texts": ["hi", "there"]})
    assert not classify.is_valid({})
    image = spec["paths"]["/predict/image"]["post"]["requestBody"]["content"]
    assert set(image) == {"application/json", "multipart/form-data"}
    assert image["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
    infer = body_validator(spec, "/v2/models/{name}/infer")
    assert infer.is_valid(
        {
            "id": "1",
            "inputs": [
                {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}
            ],
        }
    )
    assert not infer.is_valid({"inputs": [{"name": "input"}]})


def test_model_names_and_named_inputs_are_in_the_spec(spec: dict[str, Any]) -> None:
    params = spec["paths"]["/models/{name}/predict"]["post"]["parameters"]
    name = next(p for p in params if p["name"] == "name")
    assert name["schema"]["enum"] == sorted(
        [
            "credit",
            "diabetes",
            "digits",
            "digits-onnx",
            "iris",
            "iris-onnx",
            "iris-torch",
            "sentiment",
        ]
    )
    credit = spec["components"]["schemas"]["CreditFeatures"]
    assert credit["properties"]["age"] == {"type": "integer", "minimum": 18, "maximum": 100}
    assert credit["properties"]["income"] == {"type": "number", "minimum": 0}


def test_each_route_lists_its_own_errors(spec: dict[str, Any]) -> None:
    assert set(spec["paths"]["/health"]["get"]["responses"]) == {"200"}
    assert set(spec["paths"]["/ready"]["get"]["responses"]) == {"200", "503"}
    predict = spec["paths"]["/predict"]["post"]["responses"]
    assert {"200", "400", "404", "413", "422", "500", "503", "504"} <= set(predict)
    infer = spec["paths"]["/v2/models/{name}/infer"]["post"]
    assert infer["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/V2ErrorBody"
    }
    assert "application/octet-stream" in infer["responses"]["200"]["content"]
    assert [p["name"] for p in infer.get("parameters", [])] == ["name"]  # no stray `version`
    assert "securitySchemes" not in spec["components"]  # no keys on this server


def test_docs_and_redoc_load_nothing_from_the_network(app_client: httpx.Client) -> None:
    for page in ("/docs", "/redoc"):
        html = app_client.get(page).text
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
        assert urls, html
        assert all(u.startswith("/") for u in urls), urls
        for url in urls:
            assert app_client.get(url).status_code == 200, url
