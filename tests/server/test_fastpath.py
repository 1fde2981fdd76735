"""The prediction fast path answers exactly as FastAPI's routing did: the same statuses,
bodies and headers for good and bad requests alike, and the same OpenAPI document."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlserve.config.load import load_manifest
from mlserve.runtimes._base import Batch, BatchPrediction
from mlserve.runtimes.sklearn import SklearnRuntime
from mlserve.server import create_app
from mlserve.server.fastpath import client_left
from tests.support import LiveServer, start_server, wait_for, write_manifest

ROW = [5.1, 3.5, 1.4, 0.2]
JSON = {"Content-Type": "application/json"}
CREDIT = {"age": 41, "income": 52000, "credit_score": 710}
V2_HEADER = "Inference-Header-Content-Length"


def v2_binary(rows: list[list[float]], header_length: int | None = None) -> dict[str, Any]:
    raw = struct.pack(f"<{len(rows) * len(rows[0])}d", *[x for row in rows for x in row])
    tensor = {"name": "input", "shape": [len(rows), len(rows[0])], "datatype": "FP64"}
    header = json.dumps(
        {
            "inputs": [{**tensor, "parameters": {"binary_data_size": len(raw)}}],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    length = len(header) if header_length is None else header_length
    return {"content": header + raw, "headers": {V2_HEADER: str(length)}}


V2_TENSOR = {"name": "input", "shape": [1, 4], "datatype": "FP64", "data": ROW}
V2_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v2/models/iris/infer", {"json": {"inputs": [V2_TENSOR]}}),
    ("POST", "/v2/models/iris/versions/v1/infer", {"json": {"id": "7", "inputs": [V2_TENSOR]}}),
    ("POST", "/v2/models/iris/versions/v9/infer", {"json": {"inputs": [V2_TENSOR]}}),
    ("POST", "/v2/models/nope/infer", {"json": {"inputs": [V2_TENSOR]}}),
    ("POST", "/v2/models/iris/infer", v2_binary([ROW, ROW, ROW])),
    ("POST", "/v2/models/iris/infer", v2_binary([ROW], header_length=10**6)),
    ("POST", "/v2/models/iris/infer", v2_binary([ROW[:3]])),
    ("POST", "/v2/models/iris/infer", {"content": b"{", "headers": JSON}),
    ("GET", "/v2/models/iris/infer", {}),
    ("POST", "/v2/models/credit/infer", {"json": {"inputs": [V2_TENSOR]}}),
]
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/predict", {"json": {"features": ROW}}),
    ("POST", "/v1/predict", {"json": {"features": ROW}}),
    ("POST", "/v9/predict", {"json": {"features": ROW}}),
    ("POST", "/v2/predict", {"json": {"features": ROW}}),
    ("POST", "/models/iris/predict", {"json": {"features": ROW}}),
    ("POST", "/models/iris/versions/v1/predict", {"json": {"features": ROW}}),
    ("POST", "/models/iris/versions/v7/predict", {"json": {"features": ROW}}),
    ("POST", "/models/nope/predict", {"json": {"features": ROW}}),
    ("POST", "/models/iris/predict/batch", {"json": {"inputs": [ROW, ROW]}}),
    ("POST", "/predict/batch", {"json": {"inputs": []}}),
    ("POST", "/models/credit/predict", {"json": {"features": CREDIT}}),
    ("POST", "/models/credit/predict", {"json": {"features": {**CREDIT, "age": 17}}}),
    ("POST", "/models/credit/predict", {"json": {"features": {"age": 41}}}),
    ("POST", "/models/iris/classify", {"json": {"text": "hello"}}),
    ("POST", "/models/iris/predict/image", {"json": {"image_base64": "AAAA"}}),
    ("POST", "/predict", {"json": {"features": [1.0]}}),
    ("POST", "/predict", {"content": b"{not json", "headers": JSON}),
    ("POST", "/predict", {"content": b"", "headers": JSON}),
    (
        "POST",
        "/predict",
        {"content": b'{"features": [1,2]}', "headers": {"Content-Type": "text/plain"}},
    ),
    ("POST", "/predict", {"content": b"[" + b"1," * 60_000 + b"1]", "headers": JSON}),
    ("POST", "/predict", {"json": {"features": ROW, "extra": 1}}),
    ("GET", "/predict", {}),
    ("PUT", "/models/iris/predict", {"json": {}}),
    ("POST", "/models/iris/predict/", {"json": {"features": ROW}}),
    ("POST", "/models//predict", {"json": {"features": ROW}}),
    ("POST", "/predictx", {"json": {"features": ROW}}),
    *V2_REQUESTS,
]
VARYING = {"date", "x-request-id", "server"}


@pytest.fixture(scope="module")
def servers(
    fast_samples: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("fastpath")
    manifest = write_manifest(
        folder,
        f"""
server: {{limits: {{max_body_bytes: 100000}}}}
models:
  - {{name: iris, version: v1, runtime: sklearn, path: {fast_samples / "iris-v1.joblib"}}}
  - {{name: credit, runtime: sklearn, path: {fast_samples / "credit.joblib"},
      inputs: [{{name: age, type: int, min: 18}}, {{name: income}}, {{name: credit_score}}]}}
""",
    )
    fast: LiveServer = start_server(manifest)
    routed: LiveServer = start_server(manifest, fast_path=False)
    yield fast.url, routed.url
    fast.stop()
    routed.stop()


@pytest.mark.parametrize(("method", "path", "options"), REQUESTS, ids=lambda x: str(x)[:40])
def test_same_answer_with_and_without_the_fast_path(
    servers: tuple[str, str], method: str, path: str, options: dict[str, Any]
) -> None:
    fast, routed = (httpx.request(method, url + path, **options) for url in servers)
    assert fast.status_code == routed.status_code
    assert fast.content == routed.content
    assert headers(fast, servers[0]) == headers(routed, servers[1])


def headers(response: httpx.Response, url: str) -> dict[str, str]:
    """The headers that do not vary by server (a redirect names the server's own port)."""
    return {k: v.replace(url, "") for k, v in response.headers.items() if k not in VARYING}


def test_metrics_label_routes_alike(servers: tuple[str, str]) -> None:
    for url in servers:
        httpx.post(url + "/models/iris/predict", json={"features": ROW})

    def counters() -> list[list[str]]:
        return [
            sorted(
                line
                for line in httpx.get(url + "/metrics").text.splitlines()
                # /ready was polled while the models loaded: as often as each took
                if line.startswith("mlserve_requests_total") and 'route="/ready"' not in line
            )
            for url in servers
        ]

    # A request is counted just after its answer is sent: wait for both counts to settle.
    deadline = time.monotonic() + 10
    while (lines := counters())[0] != lines[1] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lines[0] == lines[1]
    assert any('route="/models/{name}/predict"' in line for line in lines[0])


@pytest.fixture
def fast_manifest(fast_samples: Path, tmp_path: Path) -> Path:
    """A tabular classifier, one with named features, and a regressor."""
    return write_manifest(
        tmp_path,
        f"""
models:
  - {{name: iris, runtime: sklearn, path: {fast_samples / "iris-v2.joblib"}}}
  - {{name: credit, runtime: sklearn, path: {fast_samples / "credit.joblib"},
     inputs: [{{name: age}}, {{name: income}}, {{name: credit_score}}]}}
  - {{name: diabetes, runtime: sklearn, path: {fast_samples / "diabetes.joblib"}}}
""",
    )


@pytest.mark.unit
def test_the_openapi_document_is_unchanged(fast_manifest: Path) -> None:
    manifest = load_manifest(fast_manifest)
    assert create_app(manifest).openapi() == create_app(manifest, fast_path=False).openapi()


@pytest.mark.unit
def test_the_fast_path_knows_every_prediction_route(fast_manifest: Path) -> None:
    from mlserve import wire
    from mlserve.server.fastpath import PredictionFastPath

    app = create_app(load_manifest(fast_manifest))
    assert isinstance(app.fast_path, PredictionFastPath)
    routes = [route for found in app.fast_path.by_suffix.values() for route in found]
    # every operation under every prefix, and V2 inference with and without a version
    assert len(routes) == len(wire.OPERATION_ROUTES) * 5 + 2
    fast = PredictionFastPath(app, routes)
    for path, template in [
        ("/predict", "/predict"),
        ("/versions/v1/predict/batch", "/versions/{version}/predict/batch"),
        ("/v1/predict/batch", "/{version}/predict/batch"),  # deprecated
        ("/models/iris/classify", "/models/{name}/classify"),
        (
            "/models/iris/versions/v2/predict/image",
            "/models/{name}/versions/{version}/predict/image",
        ),
    ]:
        matched = fast.match(path)
        assert matched is not None
        assert matched[0].path == template
    assert fast.match("/models/iris") is None
    assert fast.match("/v2/models/iris/infer") is not None
    assert fast.match("/v2/models/iris/ready") is None


class UnencodableAnswers(SklearnRuntime):
    """Answers with objects JSON cannot hold: a runtime bug the server must survive."""

    def predict(self, batch: Batch) -> BatchPrediction:
        return BatchPrediction([object() for _ in range(len(batch))])


@pytest.mark.parametrize("fast_path", [True, False])
def test_an_unexpected_failure_is_a_500_naming_the_request_id(
    fast_samples: Path, tmp_path: Path, fast_path: bool
) -> None:
    """FastAPI's server-error layer is behind the fast path: it answers such a failure itself,
    as FastAPI's routing does."""
    manifest = write_manifest(
        tmp_path,
        f"models:\n  - {{name: iris, runtime: sklearn, path: {fast_samples / 'iris-v1.joblib'}}}\n",
    )
    server = start_server(manifest, runtime_factory=UnencodableAnswers, fast_path=fast_path)
    try:
        response = httpx.post(server.url + "/models/iris/predict", json={"features": ROW})
        assert response.status_code == 500
        body = response.json()
        assert body["error"] == "internal_error"
        assert response.headers["x-request-id"] in body["message"]
        assert httpx.get(server.url + "/health").status_code == 200
    finally:
        server.stop()


class SlowIris(SklearnRuntime):
    """The iris model, holding each call until the test releases it: callers queue behind."""

    rows_seen: ClassVar[list[int]] = []
    busy: ClassVar[threading.Event] = threading.Event()
    release: ClassVar[threading.Event] = threading.Event()

    def predict(self, batch: Batch) -> BatchPrediction:
        SlowIris.rows_seen.append(len(batch))
        SlowIris.busy.set()
        SlowIris.release.wait(30)
        return super().predict(batch)


def metric(url: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    return 0.0


def test_a_caller_that_left_while_queued_never_reaches_the_model(
    fast_samples: Path, tmp_path: Path
) -> None:
    manifest = write_manifest(
        tmp_path,
        f"models:\n  - {{name: iris, runtime: sklearn, path: {fast_samples / 'iris-v1.joblib'}, "
        "batching: {max_batch_size: 8, max_wait_ms: 0}}\n",
    )
    SlowIris.rows_seen.clear()
    SlowIris.release.clear()
    server = start_server(manifest, runtime_factory=SlowIris)
    connections = server.server.server_state.connections
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            SlowIris.busy.clear()
            first = pool.submit(httpx.post, server.url + "/predict", json={"features": ROW})
            assert SlowIris.busy.wait(30)  # the model holds the first caller
            body = json.dumps({"features": ROW}).encode()
            with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1]))) as sock:
                sock.sendall(
                    b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                wait_for(lambda: metric(server.url, "mlserve_queue_depth", model="iris") == 1)
                open_before = len(connections)
            wait_for(lambda: len(connections) < open_before)  # the server saw the caller leave
            SlowIris.release.set()
            assert first.result().status_code == 200
        wait_for(lambda: metric(server.url, "mlserve_requests_total", status="499") == 1)
        assert SlowIris.rows_seen == [1]  # the caller that left never cost a model call
    finally:
        server.stop()


@pytest.mark.unit
@pytest.mark.anyio
async def test_client_left_looks_without_waiting() -> None:
    loop = asyncio.get_running_loop()

    async def left() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def still_there() -> dict[str, Any]:
        await asyncio.Event().wait()  # what uvicorn's receive does until something happens
        raise AssertionError("waited")

    def answered_future() -> asyncio.Future[dict[str, Any]]:  # another server's awaitable
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        future.set_result({"type": "http.disconnect"})
        return future

    assert await client_left(left)
    assert not await client_left(still_there)
    assert await client_left(answered_future)
    assert not await client_left(loop.create_future)
