"""`mlserve serve` as a real process: flags, startup, answers, clean exit on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, free_port


@contextmanager
def serving(*args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlserve", "serve", *args, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ},
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)
        yield url, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker processes too
            proc.communicate()


def test_serve_answers_and_exits_0_on_sigterm(sample_manifest: Path) -> None:
    with serving(str(sample_manifest), "--log-level", "info") as (url, proc):
        response = httpx.post(url + "/predict", json={"features": [5.1, 3.5, 1.4, 0.2]})
        assert response.json()["prediction"] == "setosa"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "model iris:v2 loaded" in stderr
    assert "model=iris version=v2 rows=1 latency_ms=" in stderr


def test_serve_with_two_workers_and_summed_metrics(sample_manifest: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    with serving(str(sample_manifest), "--workers", "2") as (url, proc):
        for _ in range(20):
            response = httpx.post(url + "/predict", json={"features": [6.7, 3.0, 5.2, 2.3]})
            assert response.json()["prediction"] == "virginica"
        text = httpx.get(url + "/metrics").text
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert stderr.count("model iris:v2 loaded") == 2  # each worker loads its own models
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
    with serving(str(sample_manifest), "--log-format", "json") as (url, proc):
        response = httpx.post(
            url + "/models/iris/predict",
            headers={"X-Request-ID": "trace-1"},
            json={"features": [6.4242, 3.0, 5.2, 2.3]},
        )
        assert response.status_code == 200
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    events = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    access = [
        e for e in events if e["logger"] == "mlserve.access" and e.get("request_id") == "trace-1"
    ]
    assert len(access) == 1
    assert {k: access[0][k] for k in ("method", "path", "status", "model", "version", "rows")} == {
        "method": "POST",
        "path": "/models/iris/predict",
        "status": 200,
        "model": "iris",
        "version": "v2",
        "rows": 1,
    }
    assert access[0]["latency_ms"] > 0
    assert {"loaded", "unloaded"} <= {e.get("event") for e in events}
    assert "6.4242" not in stderr  # input data never reaches the log


def test_sigterm_finishes_every_accepted_request(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tests.models import slow_classifier
    from tests.support import write_manifest

    slow_classifier(str(tmp_path / "slow.joblib"), seconds=0.5)
    manifest = write_manifest(
        tmp_path,
        "models:\n  - {name: slow, runtime: sklearn, "
        "path: slow.joblib, batching: {max_batch_size: 16}}\n",
    )
    row = {"features": [5.1, 3.5, 1.4, 0.2]}
    with (
        serving(str(manifest), "--grace-period", "60") as (url, proc),
        httpx.Client(limits=httpx.Limits(max_connections=50), timeout=60) as client,
        ThreadPoolExecutor(50) as pool,
    ):
        futures = [pool.submit(client.post, url + "/predict", json=row) for _ in range(50)]
        time.sleep(1.0)  # all 50 are accepted; the model works through them 16 at a time
        proc.send_signal(signal.SIGTERM)
        answers = [f.result() for f in futures]
        _, stderr = proc.communicate(timeout=60)
    assert [r.status_code for r in answers] == [200] * 50
    assert proc.returncode == 0, stderr
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/health", timeout=2)  # and then the server is gone
