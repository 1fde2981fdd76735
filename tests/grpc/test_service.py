"""The Open Inference Protocol over gRPC, driven by tritonclient.grpc (sync, aio, stream) and
grpc's own health and reflection clients, on the sample models beside HTTP in one server:
answers equal the HTTP ones, errors are status codes (never INTERNAL for bad input)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as tg
import tritonclient.grpc.aio as tga
import tritonclient.http as th
from tritonclient.utils import InferenceServerException

from mlserve.config.load import load_manifest
from mlserve.grpc.server import serving_grpc
from tests.support import LiveServer, free_port, start_server, write_manifest

pytestmark = pytest.mark.e2e

IRIS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]])


def serve_with_grpc(manifest: Path, **server: Any) -> tuple[LiveServer, str]:
    """The manifest's app on a real uvicorn server, with gRPC beside it on a free port."""
    port = free_port()
    spec = load_manifest(manifest).server.model_copy(update={"grpc_port": port, **server})
    live = start_server(manifest, fronts=[functools.partial(serving_grpc, spec=spec)])
    return live, f"127.0.0.1:{port}"


@pytest.fixture
def grpc_client(served: tuple[str, str]) -> tg.InferenceServerClient:
    return tg.InferenceServerClient(served[1])


@pytest.fixture
def http_client(served: tuple[str, str]) -> th.InferenceServerClient:
    return th.InferenceServerClient(served[0].removeprefix("http://"))


def tensors(kind: Any, inputs: dict[str, np.ndarray]) -> list[Any]:
    made = []
    for name, values in inputs.items():
        datatype = "BYTES" if values.dtype == object else tg.np_to_triton_dtype(values.dtype)
        tensor = kind.InferInput(name, list(values.shape), datatype)
        tensor.set_data_from_numpy(values)
        made.append(tensor)
    return made


def credit_inputs() -> dict[str, np.ndarray]:
    return {
        "age": np.array([42, 30], dtype=np.int64),
        "income": np.array([52000.0, 1000.0]),
        "credit_score": np.array([710, 400], dtype=np.int64),
    }


def sample_requests(samples: Path) -> list[tuple[str, dict[str, np.ndarray]]]:
    png = (samples / "digits" / "7.png").read_bytes()
    texts = np.array([b"I loved this film", b"Terrible, a waste of time."], dtype=object)
    return [
        ("iris", {"input": IRIS}),
        ("iris-torch", {"input": IRIS}),
        ("iris-onnx", {"input": IRIS}),
        ("credit", credit_inputs()),
        ("diabetes", {"input": np.zeros((2, 10))}),
        ("digits", {"image": np.array([png], dtype=object)}),
        ("sentiment", {"text": texts}),
    ]


def test_every_sample_model_answers_as_over_http(
    grpc_client: tg.InferenceServerClient, http_client: th.InferenceServerClient, samples: Path
) -> None:
    for model, inputs in sample_requests(samples):
        over_grpc = grpc_client.infer(model, tensors(tg, inputs))
        over_http = http_client.infer(model, tensors(th, inputs))
        names = [o["name"] for o in over_http.get_response()["outputs"]]
        assert [o.name for o in over_grpc.get_response().outputs] == names, model
        for name in names:
            assert np.array_equal(over_grpc.as_numpy(name), over_http.as_numpy(name)), (model, name)
        assert over_grpc.get_response().model_version == over_http.get_response()["model_version"]
    digit = grpc_client.infer("digits", tensors(tg, sample_requests(samples)[5][1]))
    assert digit.as_numpy("label").tolist() == [b"7"]


def test_metadata_readiness_config_and_statistics(
    grpc_client: tg.InferenceServerClient, served: tuple[str, str]
) -> None:
    assert grpc_client.is_server_live()
    assert grpc_client.is_server_ready()
    assert grpc_client.is_model_ready("iris")
    assert grpc_client.is_model_ready("iris", "v1")
    server = grpc_client.get_server_metadata(as_json=True)
    assert server["name"] == "mlserve"
    assert "model_repository" in server["extensions"]
    over_grpc = grpc_client.get_model_metadata("credit", as_json=True)
    over_http = httpx.get(served[0] + "/v2/models/credit").json()
    assert over_grpc["versions"] == over_http["versions"]
    for side in ("inputs", "outputs"):
        assert [(t["name"], t["datatype"]) for t in over_grpc[side]] == [
            (t["name"], t["datatype"]) for t in over_http[side]
        ]
    config = grpc_client.get_model_config("iris", as_json=True)["config"]
    assert config["input"] == [{"name": "input", "data_type": "TYPE_FP64", "dims": ["4"]}]
    assert config["dynamic_batching"]["preferred_batch_size"] == [64]
    before = grpc_client.get_inference_statistics("iris", "v1", as_json=True)["model_stats"][0]
    grpc_client.infer("iris", tensors(tg, {"input": IRIS}), model_version="v1")
    after = grpc_client.get_inference_statistics("iris", "v1", as_json=True)["model_stats"][0]
    assert int(after["inference_count"]) == int(before.get("inference_count", 0)) + len(IRIS)
    assert int(after["inference_stats"]["success"]["count"]) >= 1


def test_the_aio_client_and_the_stream(served: tuple[str, str]) -> None:
    async def aio() -> list[str]:
        client = tga.InferenceServerClient(served[1])
        try:
            answers = await asyncio.gather(
                *(client.infer("iris", tensors(tga, {"input": IRIS})) for _ in range(8))
            )
            return [a.as_numpy("label")[1].decode() for a in answers]
        finally:
            await client.close()

    assert asyncio.run(aio()) == ["virginica"] * 8

    client = tg.InferenceServerClient(served[1])
    answers: queue.Queue[tuple[Any, Any]] = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        for i in range(6):
            model = "nope" if i == 3 else "iris"
            client.async_stream_infer(model, tensors(tg, {"input": IRIS}), request_id=str(i))
        got = [answers.get(timeout=30) for _ in range(6)]
    finally:
        client.stop_stream()
    results = {r.get_response().id: r for r, error in got if error is None}
    errors = [error for _, error in got if error is not None]
    assert sorted(results) == ["0", "1", "2", "4", "5"]
    assert all(r.as_numpy("label")[0] == b"setosa" for r in results.values())
    assert len(errors) == 1
    assert "unknown model 'nope'" in str(errors[0])


def status_of(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(InferenceServerException) as raised:
        call()
    return grpc.StatusCode[raised.value.status().removeprefix("StatusCode.")], str(raised.value)


def test_errors_are_status_codes_with_the_http_messages(
    grpc_client: tg.InferenceServerClient,
) -> None:
    unknown = status_of(lambda: grpc_client.infer("nope", tensors(tg, {"input": IRIS})))
    assert unknown[0] == grpc.StatusCode.NOT_FOUND
    assert "unknown model 'nope'" in unknown[1]
    wrong_name = status_of(lambda: grpc_client.infer("iris", tensors(tg, {"x": IRIS})))
    assert wrong_name[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown input tensor 'x'" in wrong_name[1]
    narrow = status_of(lambda: grpc_client.infer("iris", tensors(tg, {"input": IRIS[:, :3]})))
    assert narrow[0] == grpc.StatusCode.INVALID_ARGUMENT
    texts = np.array([b"not numbers"], dtype=object)
    as_text = status_of(lambda: grpc_client.infer("iris", tensors(tg, {"input": texts})))
    assert as_text[0] == grpc.StatusCode.INVALID_ARGUMENT
    lazy_404 = status_of(lambda: grpc_client.get_model_metadata("nope"))
    assert lazy_404[0] == grpc.StatusCode.NOT_FOUND
    assert status_of(lambda: grpc_client.is_model_ready("nope"))[0] == grpc.StatusCode.NOT_FOUND


def tensor_header(name: str, datatype: str, shape: list[int]) -> Any:
    from mlserve.protocols.grpc._generated import grpc_service_pb2 as pb

    return pb.ModelInferRequest.InferInputTensor(name=name, datatype=datatype, shape=shape)


def raw_stub(address: str) -> Any:
    """mlserve's own generated stub, for messages tritonclient would never build."""
    from mlserve.protocols.grpc._generated import grpc_service_pb2_grpc as pb_grpc

    return pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(address))  # type: ignore[no-untyped-call]


def test_hostile_messages_are_invalid_argument_and_the_server_stays_up(
    served: tuple[str, str],
) -> None:
    from mlserve.protocols.grpc._generated import grpc_service_pb2 as pb

    stub = raw_stub(served[1])
    tensor = pb.ModelInferRequest.InferInputTensor
    four = np.zeros(4).tobytes()
    hostile = {
        "wrong raw size": pb.ModelInferRequest(
            model_name="iris",
            inputs=[tensor(name="input", datatype="FP64", shape=[1, 4])],
            raw_input_contents=[four[:-1]],
        ),
        "huge shape": pb.ModelInferRequest(
            model_name="iris",
            inputs=[tensor(name="input", datatype="FP64", shape=[2**62, 2**62])],
            raw_input_contents=[four],
        ),
        "negative shape": pb.ModelInferRequest(
            model_name="iris", inputs=[tensor(name="input", datatype="FP64", shape=[-1, 4])]
        ),
        "unknown datatype": pb.ModelInferRequest(
            model_name="iris", inputs=[tensor(name="input", datatype="FP99", shape=[1, 4])]
        ),
        "raw for one input of two": pb.ModelInferRequest(
            model_name="credit",
            inputs=[
                tensor(name="age", datatype="INT64", shape=[1]),
                tensor(name="income", datatype="FP64", shape=[1]),
            ],
            raw_input_contents=[np.zeros(1, np.int64).tobytes()],
        ),
        "duplicate names": pb.ModelInferRequest(
            model_name="iris",
            inputs=[tensor(name="input", datatype="FP64", shape=[1, 4])] * 2,
            raw_input_contents=[four, four],
        ),
        "no inputs": pb.ModelInferRequest(model_name="iris"),
        "contents of the wrong type": pb.ModelInferRequest(
            model_name="iris",
            inputs=[
                tensor(
                    name="input",
                    datatype="FP64",
                    shape=[1, 4],
                    contents=pb.InferTensorContents(int64_contents=[1, 2, 3, 4]),
                )
            ],
        ),
        "INT8 out of range": pb.ModelInferRequest(
            model_name="iris",
            inputs=[
                tensor(
                    name="input",
                    datatype="INT8",
                    shape=[1, 4],
                    contents=pb.InferTensorContents(int_contents=[1, 2, 300, 4]),
                )
            ],
        ),
        "cut BYTES prefix": pb.ModelInferRequest(
            model_name="sentiment",
            inputs=[tensor(name="text", datatype="BYTES", shape=[1])],
            raw_input_contents=[b"\x10\x00"],
        ),
    }
    for case, message in hostile.items():
        with pytest.raises(grpc.RpcError) as raised:
            stub.ModelInfer(message, timeout=30)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (case, raised.value)
    typed = pb.ModelInferRequest(
        model_name="iris",
        inputs=[
            tensor(
                name="input",
                datatype="FP64",
                shape=[1, 4],
                contents=pb.InferTensorContents(fp64_contents=[5.1, 3.5, 1.4, 0.2]),
            )
        ],
    )
    answer = stub.ModelInfer(typed, timeout=30)
    assert answer.outputs[0].name == "label"
    assert answer.raw_output_contents[0][4:] == b"setosa"
    assert httpx.get(served[0] + "/health").status_code == 200


def test_a_message_over_the_body_limit_is_resource_exhausted(
    fast_samples: Path, tmp_path: Path
) -> None:
    manifest = write_manifest(
        tmp_path,
        f"server: {{limits: {{max_body_bytes: 100000}}}}\nmodels:\n"
        f"  - {{name: iris, runtime: sklearn, path: {fast_samples / 'iris-v1.joblib'}}}\n",
    )
    live, address = serve_with_grpc(manifest)
    try:
        client = tg.InferenceServerClient(address)
        fits = np.zeros((1000, 4))  # 32,000 bytes
        assert client.infer("iris", tensors(tg, {"input": fits})).as_numpy("label").shape == (1000,)
        over = np.zeros((4000, 4))  # 128,000 bytes
        code, message = status_of(lambda: client.infer("iris", tensors(tg, {"input": over})))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "100000" in message
        assert client.is_server_live()

        from mlserve.protocols.grpc._generated import grpc_service_pb2 as pb

        def padded(size: int) -> pb.ModelInferRequest:  # `id` pads it to exactly `size` bytes
            request = pb.ModelInferRequest(
                model_name="iris",
                inputs=[tensor_header("input", "FP64", [1, 4])],
                raw_input_contents=[IRIS[:1].tobytes()],
            )
            request.id = "x" * (size - request.ByteSize() - 4)
            request.id += "x" * (size - request.ByteSize())
            assert request.ByteSize() == size
            return request

        stub = raw_stub(address)
        assert stub.ModelInfer(padded(100_000), timeout=30).outputs[0].name == "label"
        with pytest.raises(grpc.RpcError) as one_over:
            stub.ModelInfer(padded(100_001), timeout=30)
        assert one_over.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        live.stop()


def test_health_and_reflection(served: tuple[str, str]) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    channel = grpc.insecure_channel(served[1])
    health = health_pb2_grpc.HealthStub(channel)
    serving = health_pb2.HealthCheckResponse.SERVING
    assert health.Check(health_pb2.HealthCheckRequest(service="")).status == serving
    assert health.Check(health_pb2.HealthCheckRequest(service="iris")).status == serving
    client = tg.InferenceServerClient(served[1])
    client.unload_model("iris-onnx")  # the repository extension: loopback, no admin key
    try:
        unloaded = health.Check(health_pb2.HealthCheckRequest(service="iris-onnx")).status
        assert unloaded == health_pb2.HealthCheckResponse.NOT_SERVING
        assert health.Check(health_pb2.HealthCheckRequest(service="")).status == serving
    finally:
        client.load_model("iris-onnx")
    with pytest.raises(grpc.RpcError) as unknown:
        health.Check(health_pb2.HealthCheckRequest(service="nope"))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    asked = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="inference.GRPCInferenceService"
        ),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="grpc.health.v1.Health"),
    ]
    listed, service_file, health_file = list(reflection.ServerReflectionInfo(iter(asked)))
    names = {s.name for s in listed.list_services_response.service}
    assert {"inference.GRPCInferenceService", "grpc.health.v1.Health"} <= names
    assert service_file.file_descriptor_response.file_descriptor_proto
    assert health_file.file_descriptor_response.file_descriptor_proto


def test_keys_come_from_metadata(
    fast_samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRPC_TEST_KEYS", "inference-key")
    monkeypatch.setenv("GRPC_TEST_ADMIN", "admin-key")
    manifest = write_manifest(
        tmp_path,
        "server: {api_key_env: GRPC_TEST_KEYS, admin_key_env: GRPC_TEST_ADMIN}\nmodels:\n"
        f"  - {{name: iris, runtime: sklearn, path: {fast_samples / 'iris-v1.joblib'}}}\n",
    )
    live, address = serve_with_grpc(manifest, api_key_env="GRPC_TEST_KEYS")
    try:
        client = tg.InferenceServerClient(address)
        rows = tensors(tg, {"input": IRIS})
        refused = status_of(lambda: client.infer("iris", rows))
        assert refused[0] == grpc.StatusCode.UNAUTHENTICATED
        assert "inference-key" not in refused[1]
        bearer = {"authorization": "Bearer inference-key"}
        assert client.infer("iris", rows, headers=bearer).as_numpy("label").shape == (3,)
        assert client.infer("iris", rows, headers={"x-api-key": "inference-key"})
        wrong = status_of(lambda: client.infer("iris", rows, headers={"x-api-key": "nope"}))
        assert wrong[0] == grpc.StatusCode.UNAUTHENTICATED
        errors: queue.Queue[Any] = queue.Queue()
        client.start_stream(callback=lambda result, error: errors.put(error))
        try:
            with contextlib.suppress(InferenceServerException):  # refused as it opened
                client.async_stream_infer("iris", rows)
            refused_stream = errors.get(timeout=30)
        finally:
            client.stop_stream()
        assert refused_stream is not None
        assert refused_stream.status() == "StatusCode.UNAUTHENTICATED"
        no_admin = status_of(lambda: client.unload_model("iris", headers=bearer))
        assert no_admin[0] == grpc.StatusCode.UNAUTHENTICATED
        admin = {"authorization": "Bearer admin-key"}
        client.unload_model("iris", headers=admin)
        unloaded = status_of(lambda: client.infer("iris", rows, headers=bearer))
        assert unloaded[0] == grpc.StatusCode.UNAVAILABLE
        client.load_model("iris", headers=admin)
        assert client.is_model_ready("iris", headers=bearer)
        index = client.get_model_repository_index(headers=admin, as_json=True)
        assert index["models"] == [{"name": "iris", "version": "v1", "state": "READY"}]
    finally:
        live.stop()


def test_tritonclient_and_every_mlserve_grpc_module_import_in_one_process() -> None:
    code = (
        "import tritonclient.grpc, tritonclient.grpc.aio\n"
        "import mlserve, mlserve.grpc.server, mlserve.grpc.service, mlserve.protocols.grpc.codec\n"
        "from google.protobuf import descriptor_pool\n"
        "from mlserve.protocols.grpc._generated import POOL\n"
        "default = descriptor_pool.Default()\n"
        "assert default.FindMessageTypeByName('inference.ModelInferRequest').file.pool is default\n"
        "assert POOL.FindMessageTypeByName('inference.ModelInferRequest').file.pool is POOL\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr


def test_grpc_calls_are_counted_with_http_ones(
    grpc_client: tg.InferenceServerClient, served: tuple[str, str]
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    def counted() -> float:
        families = text_string_to_metric_families(httpx.get(served[0] + "/metrics").text)
        return sum(
            s.value
            for family in families
            for s in family.samples
            if s.name == "mlserve_requests_total"
            and s.labels["protocol"] == "grpc"
            and s.labels["route"] == "/inference.GRPCInferenceService/ModelInfer"
            and s.labels["model"] == "credit"
            and s.labels["version"] == "xgboost"  # a version only gRPC calls here
            and s.labels["status"] == "200"
        )

    def console_requests() -> int:
        stats = httpx.get(served[0] + "/console/stats").json()
        card = next(
            m for m in stats["models"] if (m["model"], m["version"]) == ("credit", "xgboost")
        )
        return int(sum(card["live"]["series"]["requests_per_s"]) > 0)

    before = counted()
    for _ in range(3):
        grpc_client.infer("credit", tensors(tg, credit_inputs()), model_version="xgboost")
    assert counted() == before + 3
    assert console_requests() == 1


def resident_bytes(url: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    families = text_string_to_metric_families(httpx.get(url + "/metrics").text)
    return next(
        s.value for f in families for s in f.samples if s.name == "process_resident_memory_bytes"
    )


def test_bad_clients_leave_the_server_answering(served: tuple[str, str]) -> None:
    """A 1 ms deadline, 1,000 idle channels, and a stream that sends without ever reading
    its answers: memory stays bounded and other calls are answered."""
    from mlserve.protocols.grpc._generated import grpc_service_pb2 as pb

    client = tg.InferenceServerClient(served[1])
    rows = tensors(tg, {"input": np.tile(IRIS, (20_000, 1))})
    late = status_of(lambda: client.infer("iris", rows, client_timeout=0.001))
    assert late[0] == grpc.StatusCode.DEADLINE_EXCEEDED
    before = resident_bytes(served[0])

    idle = [grpc.insecure_channel(served[1]) for _ in range(1000)]
    try:
        for channel in idle:
            grpc.channel_ready_future(channel).result(timeout=30)
        assert client.infer("iris", tensors(tg, {"input": IRIS})).as_numpy("label").shape == (3,)
    finally:
        for channel in idle:
            channel.close()

    request = pb.ModelInferRequest(
        model_name="iris",
        inputs=[pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP64", shape=[1, 4])],
        raw_input_contents=[IRIS[:1].tobytes()],
    )
    stub = raw_stub(served[1])
    never_read = stub.ModelStreamInfer(iter([request] * 20_000))  # its answers are not read
    try:
        for _ in range(20):
            assert client.infer("iris", tensors(tg, {"input": IRIS})).as_numpy("label").shape == (
                3,
            )
        assert httpx.get(served[0] + "/health").status_code == 200
        assert resident_bytes(served[0]) - before < 200 * 2**20
    finally:
        never_read.cancel()


def test_grpc_and_http_rows_share_a_batch(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from mlserve.engine.observers import CoreObserver
    from tests.models import slow_classifier
    from tests.support import wait_for

    class Seen(CoreObserver):
        def __init__(self) -> None:
            self.depths: list[int] = []
            self.calls: list[int] = []

        def queue_depth(self, spec: Any, depth: int) -> None:
            self.depths.append(depth)

        def model_call(self, spec: Any, rows: int, seconds: float) -> None:
            self.calls.append(rows)

    slow_classifier(str(tmp_path / "slow.joblib"), seconds=0.5)
    manifest = write_manifest(
        tmp_path,
        "models:\n  - {name: slow, runtime: sklearn, path: slow.joblib, "
        "batching: {max_batch_size: 16}}\n",
    )
    live, address = serve_with_grpc(manifest)
    seen = Seen()
    app: Any = live.server.config.app
    app.state.core.observe(seen)
    client = tg.InferenceServerClient(address)
    batch = live.url + "/models/slow/predict/batch"
    try:
        with ThreadPoolExecutor(3) as pool:
            first = pool.submit(httpx.post, batch, json={"inputs": IRIS[:1].tolist()}, timeout=60)
            wait_for(lambda: seen.depths[-2:] == [1, 0])  # taken from the queue: the model is busy
            over_grpc = pool.submit(client.infer, "slow", tensors(tg, {"input": IRIS[:2]}))
            over_http = pool.submit(httpx.post, batch, json={"inputs": IRIS.tolist()}, timeout=60)
            wait_for(lambda: 2 in seen.depths)  # both queued behind the first call
            assert first.result().status_code == 200
            assert over_grpc.result().as_numpy("label").shape == (2,)
            assert len(over_http.result().json()["predictions"]) == 3
    finally:
        live.stop()
    assert seen.calls == [1, 5]  # the gRPC call's 2 rows and the HTTP call's 3: one model call
