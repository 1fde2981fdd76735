"""`mlserve serve` as a real process: flags, startup, answers, clean exit on SIGTERM."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.models import slow_classifier
from tests.support import run_cli, serving_process, wait_for, write_manifest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_serve_answers_and_exits_0_on_sigterm(sample_manifest: Path) -> None:
    with serving_process(str(sample_manifest), "--log-level", "info") as served:
        response = httpx.post(served.url + "/predict", json={"features": [5.1, 3.5, 1.4, 0.2]})
        assert response.json()["prediction"] == "setosa"
        code, log = served.terminate()
    assert code == 0
    assert "model iris:v2 loaded" in log
    assert "model=iris version=v2 rows=1 latency_ms=" in log
    assert f"console {served.url}/  API docs {served.url}/docs" in log


def test_serve_with_two_workers_and_summed_metrics(sample_manifest: Path) -> None:
    with serving_process(str(sample_manifest), "--workers", "2") as served:
        for _ in range(20):
            response = httpx.post(served.url + "/predict", json={"features": [6.7, 3.0, 5.2, 2.3]})
            assert response.json()["prediction"] == "virginica"
        text = httpx.get(served.url + "/metrics").text
        code, log = served.terminate()
    assert code == 0, log
    assert log.count("model iris:v2 loaded") == 2  # each worker loads its own models
    counted = sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "mlserve_requests_total"
        and s.labels["route"] == "/predict"
        and s.labels["status"] == "200"
    )
    assert counted == 20  # whichever worker answered /metrics, it adds up both


def test_json_logs_one_line_per_request_and_no_inputs(sample_manifest: Path) -> None:
    with serving_process(str(sample_manifest), "--log-format", "json") as served:
        response = httpx.post(
            served.url + "/models/iris/predict",
            headers={"X-Request-ID": "trace-1"},
            json={"features": [6.4242, 3.0, 5.2, 2.3]},
        )
        assert response.status_code == 200
        _, log = served.terminate()
    events = [json.loads(line) for line in log.splitlines() if line.strip()]
    access = [
        e for e in events if e["logger"] == "mlserve.access" and e.get("request_id") == "trace-1"
    ]
    assert len(access) == 1
    fields = {k: access[0][k] for k in ("method", "path", "status", "model", "version", "rows")}
    assert fields == {
        "method": "POST",
        "path": "/models/iris/predict",
        "status": 200,
        "model": "iris",
        "version": "v2",
        "rows": 1,
    }
    assert access[0]["latency_ms"] > 0
    assert {"loaded", "unloaded"} <= {e.get("event") for e in events}
    assert "6.4242" not in log  # input data never reaches the log


def test_sigterm_finishes_every_accepted_request(tmp_path: Path) -> None:
    slow_classifier(str(tmp_path / "slow.joblib"), seconds=0.5)
    manifest = write_manifest(
        tmp_path,
        "models:\n  - {name: slow, runtime: sklearn, "
        "path: slow.joblib, batching: {max_batch_size: 16}}\n",
    )
    row = {"features": [5.1, 3.5, 1.4, 0.2]}
    with (
        serving_process(str(manifest), "--grace-period", "60") as served,
        httpx.Client(limits=httpx.Limits(max_connections=50), timeout=60) as client,
        ThreadPoolExecutor(50) as pool,
    ):
        futures = [pool.submit(client.post, served.url + "/predict", json=row) for _ in range(50)]
        time.sleep(1.0)  # all 50 are accepted; the model works through them 16 at a time
        served.proc.send_signal(15)
        answers = [f.result() for f in futures]
        code, log = served.proc.wait(timeout=60), served.output()
    assert [r.status_code for r in answers] == [200] * 50
    assert code == 0, log
    with pytest.raises(httpx.TransportError):
        httpx.get(served.url + "/health", timeout=2)  # and then the server is gone


def fresh_ready(url: str) -> bool:
    with httpx.Client() as client:  # a new connection: either worker
        return client.get(url + "/ready").status_code == 200


def test_server_options_from_the_environment_reach_every_worker(
    samples: Path, tmp_path: Path
) -> None:
    manifest = write_manifest(
        tmp_path,
        f"""
server: {{limits: {{max_batch_rows: 50}}}}
models:
  - {{name: iris, runtime: sklearn, path: {samples / "iris-v2.joblib"}}}
""",
    )
    env = {"MLSERVE_LIMITS__MAX_BATCH_ROWS": "3", "MLSERVE_WORKERS": "2", "MLSERVE_PORT": "1"}
    # --port (a flag) wins over MLSERVE_PORT; the environment wins over the manifest.
    with serving_process(str(manifest), env=env) as served:
        # serving_process saw one worker ready; fresh connections reach either, so wait until
        # eight in a row find theirs ready (the other may still be loading: a 503).
        wait_for(lambda: all(fresh_ready(served.url) for _ in range(8)), timeout=60)
        rows = {"inputs": [[5.1, 3.5, 1.4, 0.2]] * 4}
        for _ in range(8):  # new connections reach either worker; each read the environment
            with httpx.Client() as client:
                response = client.post(served.url + "/predict/batch", json=rows)
            assert response.status_code == 413
            assert "the limit is 3" in response.json()["message"]
        served.terminate()


def test_serve_finds_a_folders_manifest_and_refuses_a_taken_port_before_printing_urls(
    fast_samples: Path, tmp_path: Path
) -> None:
    write_manifest(
        tmp_path,
        f"models:\n  - {{name: iris, runtime: sklearn, path: {fast_samples / 'iris-v1.joblib'}}}\n",
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("serve", str(tmp_path), "--port", str(port), in_subprocess=True)
    assert result.code != 0
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "API docs" not in result.stderr  # no URL of a server that never started
    assert "Traceback" not in result.stderr


def test_serve_reads_the_manifest_from_the_environment(fast_samples: Path, tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path,
        f"models:\n  - {{name: iris, runtime: sklearn, path: {fast_samples / 'iris-v1.joblib'}}}\n",
    )
    with serving_process(env={"MLSERVE_MANIFEST": str(manifest)}) as served:
        answer = httpx.post(served.url + "/predict", json={"features": [5.1, 3.5, 1.4, 0.2]})
        assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_with_a_hung_model_call_exits_at_the_hard_deadline(
    tmp_path: Path, workers: int
) -> None:
    """A model call that never returns kept the process alive 60 s after SIGTERM with a 30 s
    grace (its thread cannot be cancelled, and the interpreter waits for it at exit). Now the
    process leaves with 1 the grace period plus HARD_DEADLINE_AFTER_GRACE_S after the signal."""
    from mlserve.transport.run import HARD_DEADLINE_AFTER_GRACE_S

    called = tmp_path / "called"
    slow_classifier(str(tmp_path / "hung.joblib"), seconds=3600, mark=str(called))
    manifest = write_manifest(
        tmp_path, "models:\n  - {name: hung, runtime: sklearn, path: hung.joblib}\n"
    )
    grace = 1.0
    requests = workers
    with (
        serving_process(
            str(manifest), "--grace-period", str(grace), "--workers", str(workers)
        ) as served,
        ThreadPoolExecutor(requests) as pool,
    ):
        row = {"features": [5.1, 3.5, 1.4, 0.2]}
        fresh = {"Connection": "close"}  # a new connection each: any worker
        sent = [
            pool.submit(httpx.post, served.url + "/predict", json=row, headers=fresh, timeout=120)
            for _ in range(requests)
        ]
        wait_for(called.exists, timeout=30)  # a call is in the model
        signalled = time.monotonic()
        served.proc.send_signal(15)
        code = served.proc.wait(timeout=grace + HARD_DEADLINE_AFTER_GRACE_S + 30)
        took = time.monotonic() - signalled
        for request in sent:
            # The hung call is never answered 200: an error, or the connection closed.
            with contextlib.suppress(httpx.TransportError):
                assert request.result().status_code >= 500
        log = served.output()
    assert code == 1, log
    assert took >= grace
    assert "still shutting down" in log
