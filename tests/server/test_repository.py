"""The model-repository extension, driven by NVIDIA's tritonclient and by plain HTTP: index,
load and unload of what the manifest names (never of uploaded files), unloads that finish
their requests first, and the admin key on every admin route."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import schemathesis
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from mlserve import wire
from mlserve.server.admin import is_admin_path
from tests.e2e.fuzzing import fuzz_every_operation
from tests.e2e.test_schemathesis import CHECKS
from tests.models import slow_classifier
from tests.support import run_cli, serving_process, write_manifest

ROW = {"features": [5.1, 3.5, 1.4, 0.2]}
ADMIN_ROUTES = [
    wire.V2_REPOSITORY_INDEX,
    wire.V2_REPOSITORY_UNLOAD.replace("{name}", "iris"),
    wire.V2_REPOSITORY_LOAD.replace("{name}", "iris"),  # after unload: the test predicts after
    wire.RELOAD,
]


@pytest.fixture
def iris_folder(samples: Path, tmp_path: Path) -> Path:
    for version in ("v1", "v2"):
        shutil.copy(samples / f"iris-{version}.joblib", tmp_path / f"iris-{version}.joblib")
    return tmp_path


def iris_manifest(folder: Path, server: str = "") -> Path:
    return write_manifest(
        folder,
        f"""
server: {{{server}}}
models:
  - {{name: iris, version: v1, runtime: sklearn, path: iris-v1.joblib,
     labels: [setosa, versicolor, virginica]}}
  - {{name: iris, version: v2, runtime: sklearn, path: iris-v2.joblib}}
  - {{name: other, runtime: sklearn, path: iris-v2.joblib, load: lazy}}
""",
    )


def test_tritonclient_drives_the_repository(
    iris_folder: Path, serve_manifest: Callable[..., str]
) -> None:
    url = serve_manifest(iris_manifest(iris_folder))
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    index = {(m["name"], m["version"]): m for m in client.get_model_repository_index()}
    assert set(index) == {("iris", "v1"), ("iris", "v2"), ("other", "v1")}
    assert index["iris", "v1"]["state"] == "READY"
    assert index["other", "v1"]["state"] == "UNAVAILABLE"  # lazy, not loaded yet

    client.unload_model("iris")  # every version of the name
    assert not client.is_model_ready("iris", "v1")
    assert not client.is_model_ready("iris", "v2")
    refused = httpx.post(url + "/models/iris/versions/v1/predict", json=ROW)
    assert refused.status_code == 503
    assert refused.json()["error"] == "model_not_ready"
    assert refused.json()["reason"] == "unloaded"
    reasons = {(m["name"], m["version"]): m["reason"] for m in client.get_model_repository_index()}
    assert reasons["iris", "v1"] == "unloaded"
    assert httpx.get(url + "/ready").status_code == 200  # an operator's choice, not a fault

    client.load_model("iris")
    assert client.is_model_ready("iris", "v1")
    assert client.is_model_ready("iris", "v2")
    assert httpx.post(url + "/models/iris/versions/v1/predict", json=ROW).status_code == 200

    client.load_model("other")
    ready = httpx.post(url + wire.V2_REPOSITORY_INDEX, json={"ready": True}).json()
    assert {(m["name"], m["version"]) for m in ready} == set(index)


def test_one_version_by_parameter_and_unknown_names(
    iris_folder: Path, serve_manifest: Callable[..., str]
) -> None:
    url = serve_manifest(iris_manifest(iris_folder))
    unload = url + wire.V2_REPOSITORY_UNLOAD
    answer = httpx.post(unload.replace("{name}", "iris"), json={"parameters": {"version": "v2"}})
    assert answer.status_code == 200
    index = httpx.post(url + wire.V2_REPOSITORY_INDEX).json()
    states = {m["version"]: m["state"] for m in index if m["name"] == "iris"}
    assert states == {"v1": "READY", "v2": "UNAVAILABLE"}
    missing = httpx.post(unload.replace("{name}", "nope"))
    assert missing.status_code == 404
    assert "unknown model 'nope'" in missing.json()["error"]
    no_version = httpx.post(
        unload.replace("{name}", "iris"), json={"parameters": {"version": "v9"}}
    )
    assert no_version.status_code == 404
    bad = httpx.post(unload.replace("{name}", "iris"), content=b"{not json")
    assert bad.status_code == 400


def test_uploaded_files_and_configs_are_refused(
    iris_folder: Path, serve_manifest: Callable[..., str]
) -> None:
    """Accepting a pickle from a request would run its code: only the manifest loads."""
    url = serve_manifest(iris_manifest(iris_folder))
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    pickle = (iris_folder / "iris-v1.joblib").read_bytes()
    with pytest.raises(InferenceServerException, match="never files or configs"):
        client.load_model("iris", files={"file:1/model.joblib": pickle})
    with pytest.raises(InferenceServerException, match="never files or configs"):
        client.load_model("iris", config='{"backend": "python"}')
    # nothing new appeared, and what was there still serves
    assert len(client.get_model_repository_index()) == 3
    assert httpx.post(url + "/models/iris/predict", json=ROW).status_code == 200


def test_a_failed_load_is_a_clear_400_and_a_retry_loads_the_fixed_file(
    iris_folder: Path, serve_manifest: Callable[..., str]
) -> None:
    good = (iris_folder / "iris-v2.joblib").read_bytes()
    (iris_folder / "iris-v2.joblib").write_bytes(b"not a pickle")
    url = serve_manifest(iris_manifest(iris_folder))
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    with pytest.raises(InferenceServerException, match=r"failed to load: iris-v2\.joblib"):
        client.load_model("iris")
    (iris_folder / "iris-v2.joblib").write_bytes(good)
    client.load_model("iris")
    assert client.is_model_ready("iris", "v2")


def test_unload_finishes_the_requests_it_holds(
    tmp_path: Path, serve_manifest: Callable[..., str]
) -> None:
    """Requests already queued or running on a version are answered; later ones get 503."""
    slow_classifier(str(tmp_path / "slow.joblib"), seconds=0.3)
    url = serve_manifest(
        write_manifest(
            tmp_path,
            """
models:
  - {name: slow, runtime: sklearn, path: slow.joblib, batching: {max_batch_size: 1}}
""",
        )
    )

    async def scenario() -> tuple[list[int], list[int]]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            running = [
                asyncio.create_task(http.post("/models/slow/predict", json=ROW)) for _ in range(4)
            ]
            deadline = time.monotonic() + 10
            while "mlserve_queue_depth{" not in (await http.get("/metrics")).text:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            unloaded = await http.post(wire.V2_REPOSITORY_UNLOAD.replace("{name}", "slow"))
            held = [(await r).status_code for r in running]
            later = [(await http.post("/models/slow/predict", json=ROW)).status_code]
            assert unloaded.status_code == 200
            return held, later

    held, later = asyncio.run(scenario())
    assert held == [200, 200, 200, 200]
    assert later == [503]


def test_concurrent_load_and_unload_end_in_one_consistent_state(
    iris_folder: Path, serve_manifest: Callable[..., str]
) -> None:
    url = serve_manifest(iris_manifest(iris_folder))
    routes = [wire.V2_REPOSITORY_LOAD, wire.V2_REPOSITORY_UNLOAD] * 20
    body = {"parameters": {"version": "v1"}}

    async def storm() -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            answers = await asyncio.gather(
                *(http.post(r.replace("{name}", "iris"), json=body) for r in routes)
            )
            return [a.status_code for a in answers]

    assert set(asyncio.run(storm())) == {200}
    index = httpx.post(url + wire.V2_REPOSITORY_INDEX).json()
    state = next(m for m in index if (m["name"], m["version"]) == ("iris", "v1"))
    answer = httpx.post(url + "/models/iris/versions/v1/predict", json=ROW)
    ready = httpx.get(url + "/v2/models/iris/versions/v1/ready").status_code == 200
    assert (state["state"] == "READY") == ready == (answer.status_code == 200)
    assert state["state"] in ("READY", "UNAVAILABLE")


def test_admin_key_guards_every_admin_route(
    iris_folder: Path, monkeypatch: pytest.MonkeyPatch, serve_manifest: Callable[..., str]
) -> None:
    monkeypatch.setenv("TEST_ADMIN_KEY", "admin-secret-1")
    monkeypatch.setenv("TEST_API_KEY", "inference-key-2")
    url = serve_manifest(
        iris_manifest(iris_folder, "admin_key_env: TEST_ADMIN_KEY, api_key_env: TEST_API_KEY")
    )
    admin = {"Authorization": "Bearer admin-secret-1"}
    inference = {"Authorization": "Bearer inference-key-2"}
    for route in ADMIN_ROUTES:
        for headers in ({}, {"Authorization": "Bearer nope"}, inference):
            refused = httpx.post(url + route, headers=headers)
            assert refused.status_code == 401, (route, headers)
            assert "secret" not in refused.text
            assert "inference-key" not in refused.text
    for route in ADMIN_ROUTES:
        assert httpx.post(url + route, headers=admin).status_code == 200, route
    # the admin key is no inference key
    assert httpx.post(url + "/predict", json=ROW, headers=admin).status_code == 401
    assert httpx.post(url + "/predict", json=ROW, headers=inference).status_code == 200
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    with pytest.raises(InferenceServerException):
        client.get_model_repository_index()
    assert client.get_model_repository_index(headers={"X-API-Key": "admin-secret-1"})


def test_cli_load_unload_reload_use_the_admin_key(
    iris_folder: Path, monkeypatch: pytest.MonkeyPatch, serve_manifest: Callable[..., str]
) -> None:
    monkeypatch.setenv("TEST_ADMIN_KEY", "admin-secret-1")
    url = serve_manifest(iris_manifest(iris_folder, "admin_key_env: TEST_ADMIN_KEY"))
    refused = run_cli("unload", "iris", "--url", url)
    assert refused.code == 1
    assert "admin key" in refused.stderr
    key = {"MLSERVE_ADMIN_KEY": "admin-secret-1"}
    unloaded = run_cli("unload", "iris:v2", "--url", url, env=key)  # NAME:VERSION, as elsewhere
    assert unloaded.code == 0, unloaded.stderr
    assert httpx.post(url + "/models/iris/versions/v2/predict", json=ROW).status_code == 503
    loaded = run_cli("load", "iris", "--model-version", "v2", "--url", url, env=key)
    assert loaded.code == 0, loaded.stderr
    assert httpx.post(url + "/models/iris/versions/v2/predict", json=ROW).status_code == 200
    unknown = run_cli("load", "nope", "--url", url, env=key)
    assert unknown.code == 1
    assert "unknown model 'nope'" in unknown.stderr


def test_admin_routes_are_off_on_a_public_bind_without_a_key(iris_folder: Path) -> None:
    manifest = iris_manifest(iris_folder, "host: 0.0.0.0")
    with serving_process(str(manifest)) as served:
        local = served.url
        for route in ADMIN_ROUTES:
            assert httpx.post(local + route).status_code == 404, route
        assert httpx.post(local + "/models/iris/predict", json=ROW).status_code == 200
        _, log = served.terminate()
    assert "admin routes (repository API, reload) are off" in log


@pytest.mark.slow
def test_the_admin_routes_survive_fuzzing(
    iris_folder: Path, serve_manifest: Callable[..., str]
) -> None:
    """Every admin operation, fuzzed: no 5xx, every answer as documented; the server serves on."""
    url = serve_manifest(iris_manifest(iris_folder))
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    assert fuzz_every_operation(schema, url, CHECKS, max_examples=30, only=is_admin_path) == 4
    assert httpx.post(url + wire.RELOAD).status_code == 200
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    client.load_model("iris")  # whatever the fuzzing unloaded
    assert httpx.post(url + "/models/iris/predict", json=ROW).status_code == 200
