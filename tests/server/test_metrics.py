"""/metrics after real traffic shows exactly the counts that traffic caused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support import write_manifest


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(url + "/metrics").text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_counts_latency_batches_queue_and_model_state(
    samples: Path, tmp_path: Path, serve_manifest: Callable[..., str]
) -> None:
    url = serve_manifest(
        write_manifest(
            tmp_path,
            f"""
models:
  - {{name: iris, runtime: sklearn, path: {samples / "iris-v2.joblib"}}}
  - {{name: broken, runtime: sklearn, path: {tmp_path / "models.yaml"}}}
""",
        )
    )
    for _ in range(7):
        assert (
            httpx.post(
                url + "/models/iris/predict", json={"features": [5.1, 3.5, 1.4, 0.2]}
            ).status_code
            == 200
        )
    assert (
        httpx.post(
            url + "/models/iris/predict/batch", json={"inputs": [[5.1, 3.5, 1.4, 0.2]] * 5}
        ).status_code
        == 200
    )
    for _ in range(3):
        assert httpx.post(url + "/models/iris/predict", json={"features": [1]}).status_code == 400
    assert httpx.post(url + "/models/nope/predict", json={}).status_code == 404
    found = scrape(url)
    route = "/models/{name}/predict"
    http = {"protocol": "http", "route": route}
    requests = "mlserve_requests_total"
    assert value(found, requests, **http, model="iris", version="v1", status="200") == 7
    assert value(found, requests, **http, model="iris", version="v1", status="400") == 3
    # an unknown name never becomes a label
    assert value(found, requests, **http, model="", version="", status="404") == 1
    latency = "mlserve_request_duration_seconds_count"
    assert value(found, latency, **http, model="iris") == 10
    assert value(found, "mlserve_batch_rows_count", model="iris", version="v1") == 8
    assert value(found, "mlserve_batch_rows_sum", model="iris", version="v1") == 12
    assert value(found, "mlserve_inference_duration_seconds_count", model="iris", version="v1") == 8
    assert value(found, "mlserve_queue_depth", model="iris", version="v1") == 0
    assert value(found, "mlserve_model_state", model="iris", version="v1", state="ready") == 1
    assert value(found, "mlserve_model_state", model="broken", version="v1", state="failed") == 1
    assert value(found, "mlserve_model_load_seconds", model="iris", version="v1") > 0


def test_metrics_have_the_process_collector_and_no_created_series(
    app_client: httpx.Client,
) -> None:
    assert app_client.post("/predict", json={"features": [5.1, 3.5, 1.4, 0.2]}).status_code == 200
    text = app_client.get("/metrics").text
    names = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= names
    assert "mlserve_requests_total" in names
    assert not [n for n in names if n.endswith("_created")]
