"""The Ray Serve backend on a cluster it joins: replicas, info, and a replica killed while
requests flow (none is lost; Ray starts a replacement).

The HTTP contract itself runs against both backends in tests/server (the `server_url`
fixture)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, run_cli, serving_process, write_manifest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ray = pytest.importorskip("ray", reason="the ray backend needs mlserve[ray]")
ROW = {"features": [6.7, 3.0, 5.2, 2.3]}


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A one-node Ray cluster started like a user would (`ray start --head`), on loopback.
    Ray's token auth is off here: test processes on one machine (the README covers tokens)."""
    previous = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # inherited by the head, mlserve and the driver
    port = free_port()
    head = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "ray"),
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=4",
            "--include-dashboard=false",
            "--disable-usage-stats",
            "--block",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while subprocess.run(
            [str(Path(sys.executable).parent / "ray"), "status", f"--address={address}"],
            capture_output=True,
        ).returncode:
            assert time.monotonic() < deadline, "ray head did not start"
            time.sleep(1)
        yield address
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        if previous is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = previous


def replicas(url: str, model: str) -> int:
    info = httpx.get(url + "/model/info").json()
    return int(next(m for m in info["models"] if m["model"] == model).get("replicas") or 0)


def test_kill_a_replica_while_requests_flow(cluster: str, samples: Path, tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path,
        f"""
models:
  - {{name: iris, runtime: sklearn, path: {samples / "iris-v2.joblib"}, replicas: 2}}
""",
    )
    with serving_process(str(manifest), "--backend", "ray", "--ray-address", cluster) as served:
        deadline = time.monotonic() + 60
        while replicas(served.url, "iris") != 2:
            assert time.monotonic() < deadline, "two replicas never came up"
            time.sleep(0.5)
        ray.init(address=cluster, log_to_driver=False)
        try:
            victims = [
                a["name"]
                for a in ray.util.list_named_actors(all_namespaces=True)
                if "SERVE_REPLICA" in a["name"] and "model-iris-v1" in a["name"]
            ]
            assert len(victims) == 2
            with httpx.Client(timeout=60) as client, ThreadPoolExecutor(8) as pool:
                futures = [
                    pool.submit(client.post, served.url + "/predict", json=ROW) for _ in range(1500)
                ]
                time.sleep(0.5)  # requests are flowing
                ray.kill(ray.get_actor(victims[0], namespace="serve"), no_restart=True)
                assert not all(f.done() for f in futures)  # killed while requests flowed
                answers = [f.result() for f in futures]
        finally:
            ray.shutdown()
        assert [r.status_code for r in answers] == [200] * 1500
        assert {r.json()["prediction"] for r in answers} == {"virginica"}
        deadline = time.monotonic() + 90
        while replicas(served.url, "iris") != 2:  # Ray Serve replaces the dead replica
            assert time.monotonic() < deadline, "the killed replica was not replaced"
            time.sleep(1)
        info = httpx.get(served.url + "/model/info").json()["models"][0]
        assert info["status"] == "ready"
        # each replica's node and state (Ray may still be retiring the dead one)
        running = [r for r in info["replica_details"] if r["state"] == "RUNNING"]
        assert len(running) == 2
        assert len({r["node"] for r in running}) == 1  # the one node of this cluster
        table = run_cli("info", "--url", served.url, "--output", "table", env={"COLUMNS": "200"})
        assert "replicas" in table.stdout  # `mlserve info` shows them on a Ray backend
        code, log = served.terminate()
    assert code == 0, log[-2000:]
    # the cluster we joined is still up, minus our app
    status = subprocess.run(
        [str(Path(sys.executable).parent / "ray"), "status", f"--address={cluster}"],
        capture_output=True,
    )
    assert status.returncode == 0


def answered_version(url: str, path: str) -> str | None:
    answer = httpx.post(url + path, json=ROW, timeout=30)
    return answer.json().get("version") if answer.status_code == 200 else None


def test_reload_is_an_in_place_update_of_the_ray_application(
    cluster: str, samples: Path, tmp_path: Path
) -> None:
    """The reload route, a broken manifest and SIGHUP, on the Ray backend."""
    models = f"""
models:
  - {{name: iris, version: v1, runtime: sklearn, path: {samples / "iris-v1.joblib"},
     labels: [setosa, versicolor, virginica]}}
  - {{name: iris, version: v2, runtime: sklearn, path: {samples / "iris-v2.joblib"}}}
"""
    manifest = write_manifest(tmp_path, models)
    with serving_process(str(manifest), "--backend", "ray", "--ray-address", cluster) as served:
        url = served.url
        assert answered_version(url, "/models/iris/predict") == "v2"
        write_manifest(
            tmp_path, models + "routing:\n  iris: {aliases: {stable: v1}, traffic: {v1: 100}}\n"
        )
        reloaded = run_cli("reload", "--url", url)
        assert reloaded.code == 0, reloaded.stderr
        deadline = time.monotonic() + 120
        while answered_version(url, "/models/iris/predict") != "v1":
            assert time.monotonic() < deadline, "the update never took over"
            time.sleep(0.5)
        assert answered_version(url, "/models/iris/versions/stable/predict") == "v1"

        write_manifest(tmp_path, models + "routing:\n  iris: {traffic: {v1: 70, v2: 70}}\n")
        refused = run_cli("reload", "--url", url)
        assert refused.code == 1
        assert "the percentages add up to 140, not 100" in refused.stderr

        write_manifest(tmp_path, models + "routing:\n  iris: {aliases: {stable: v2}}\n")
        served.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 120
        while answered_version(url, "/models/iris/versions/stable/predict") != "v2":
            assert time.monotonic() < deadline, "SIGHUP did not update the application"
            time.sleep(0.5)
        code, log = served.terminate()
    assert code == 0, log[-2000:]


def grpc_label(address: str) -> str:
    import numpy as np
    import tritonclient.grpc as tg

    client = tg.InferenceServerClient(address)
    tensor = tg.InferInput("input", [1, 4], "FP64")
    tensor.set_data_from_numpy(np.array([ROW["features"]], dtype=np.float64))
    label: bytes = client.infer("iris", [tensor]).as_numpy("label")[0]
    client.close()
    return label.decode()


def test_two_fronts_share_the_models_and_one_survives_the_other(
    cluster: str, samples: Path, tmp_path: Path
) -> None:
    """Two `serve --backend ray` processes joined to one cluster, requests round-robin over
    them; one front is killed with SIGKILL while 2,000 requests flow. Every request sent to
    the survivor succeeds, and a client's retry of a request to the dead one lands on it."""
    manifest = write_manifest(
        tmp_path,
        f"models:\n  - {{name: iris, runtime: sklearn, path: {samples / 'iris-v2.joblib'}}}\n",
    )
    front = ("--backend", "ray", "--ray-address", cluster)
    with (
        serving_process(str(manifest), *front) as first,
        serving_process(str(manifest), *front) as second,
    ):
        urls = [first.url, second.url]
        assert all(answered_version(u, "/predict") == "v1" for u in urls)
        for served in (first, second):  # each front serves gRPC too, over the same replicas
            assert grpc_label(served.grpc) == "virginica"
        sent_to_survivor, retried = [], []

        def one(i: int, client: httpx.Client) -> int:
            url = urls[i % 2]
            try:
                answer = client.post(url + "/predict", json=ROW)
            except httpx.TransportError:  # the killed front: ask the other one
                retried.append(i)
                answer = client.post(urls[(i + 1) % 2] + "/predict", json=ROW)
            if url == second.url:
                sent_to_survivor.append(answer.status_code)
            return answer.status_code

        with httpx.Client(timeout=60) as client, ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(one, i, client) for i in range(2000)]
            deadline = time.monotonic() + 60
            while sum(f.done() for f in futures) < 200:  # requests are flowing
                assert time.monotonic() < deadline
                time.sleep(0.01)
            os.killpg(first.proc.pid, signal.SIGKILL)
            assert not all(f.done() for f in futures)
            codes = [f.result() for f in futures]
        assert codes == [200] * 2000
        assert sent_to_survivor == [200] * len(sent_to_survivor)
        assert retried  # some requests were aimed at the killed front, and succeeded
        assert answered_version(second.url, "/predict") == "v1"


def test_replicas_reserve_fractions_of_a_gpu(tmp_path: Path) -> None:
    """Small models can share a GPU: `resources.num_gpus: 0.25` is what each replica reserves."""
    from mlserve.config.load import load_manifest

    with warnings.catch_warnings():  # Ray's own pydantic deprecations, on import
        warnings.simplefilter("ignore", DeprecationWarning)
        from mlserve.scale.ray_serve import model_deployment

    (tmp_path / "m.joblib").write_bytes(b"x")
    manifest = load_manifest(
        write_manifest(
            tmp_path,
            "models:\n  - {name: m, runtime: sklearn, path: m.joblib, replicas: 4,"
            " resources: {num_cpus: 0.5, num_gpus: 0.25}}\n",
        )
    )
    deployment = model_deployment(manifest.models[0])._bound_deployment
    assert deployment.ray_actor_options == {"num_cpus": 0.5, "num_gpus": 0.25}
    assert deployment.num_replicas == 4


def test_a_taken_port_stops_the_front_before_ray_starts(samples: Path, tmp_path: Path) -> None:
    """A port in use is a quick, clear failure, not one after Ray's start-up (and the front
    binds its port before Ray starts, so that Ray's own processes cannot take it meanwhile:
    one did in CI, between the CLI's check and uvicorn's bind 30 s later)."""
    manifest = write_manifest(
        tmp_path,
        f"models:\n  - {{name: iris, runtime: sklearn, path: {samples / 'iris-v1.joblib'}}}\n",
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = run_cli("serve", str(manifest), "--backend", "ray", "--port", str(port))
        seconds = time.monotonic() - started
    assert result.code != 0
    assert "already in use" in result.stderr
    assert "Started Serve" not in result.stderr
    assert seconds < 20, f"took {seconds:.1f} s: Ray was started first"
