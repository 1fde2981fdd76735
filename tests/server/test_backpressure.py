"""Overload and slowness: a full queue is a 503 with Retry-After, a slow model a 504 that
frees its queue slot, and /health answers through all of it."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.models import slow_classifier
from tests.support import wait_for, write_manifest

ROW = {"features": [5.1, 3.5, 1.4, 0.2]}


@pytest.fixture
def slow(tmp_path: Path) -> Path:
    slow_classifier(str(tmp_path / "slow.joblib"), seconds=1.0)
    return tmp_path


V2_ROW = {
    "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": ROW["features"]}]
}


@pytest.mark.parametrize(
    ("route", "body", "is_v2"),
    [("/predict", ROW, False), ("/v2/models/slow/infer", V2_ROW, True)],
)
def test_queue_overflow_is_503_with_retry_after(
    slow: Path, serve_manifest: Callable[..., str], route: str, body: dict[str, Any], is_v2: bool
) -> None:
    """The same Retry-After on both protocols (V2's 503s had none)."""
    url = serve_manifest(
        write_manifest(
            slow,
            """
server: {queue_limit: 2}
models:
  - {name: slow, runtime: sklearn, path: slow.joblib, batching: {max_batch_size: 1}}
""",
        )
    )
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(lambda _: httpx.post(url + route, json=body, timeout=30), range(8))
        )
    codes = sorted(r.status_code for r in statuses)
    assert 503 in codes
    assert 200 in codes
    overloaded = next(r for r in statuses if r.status_code == 503)
    if is_v2:
        assert "queued" in overloaded.json()["error"]
    else:
        assert overloaded.json()["error"] == "overloaded"
    assert int(overloaded.headers["retry-after"]) >= 1
    assert httpx.post(url + route, json=body, timeout=30).status_code == 200  # recovered


def test_timeout_is_504_and_frees_its_queue_slot(
    slow: Path, serve_manifest: Callable[..., str]
) -> None:
    url = serve_manifest(
        write_manifest(
            slow,
            """
server: {request_timeout_s: 0.3, queue_limit: 3}
models:
  - {name: slow, runtime: sklearn, path: slow.joblib, batching: {max_batch_size: 1}}
""",
        )
    )

    def burst(n: int) -> list[httpx.Response]:
        with ThreadPoolExecutor(n) as pool:
            return list(
                pool.map(lambda _: httpx.post(url + "/predict", json=ROW, timeout=30), range(n))
            )

    first = burst(4)  # one runs (1 s), three fill the queue; all give up after 0.3 s
    assert [r.status_code for r in first] == [504] * 4
    assert "did not answer within 0.3s" in first[0].json()["message"]
    # The model is still busy with the first call: had the timed-out requests kept their
    # slots, these would be refused with 503; they are queued (and time out) instead.
    second = burst(3)
    assert [r.status_code for r in second] == [504] * 3


def test_health_answers_while_the_model_is_busy(
    slow: Path, serve_manifest: Callable[..., str]
) -> None:
    url = serve_manifest(
        write_manifest(
            slow,
            """
models:
  - {name: slow, runtime: sklearn, path: slow.joblib}
""",
        )
    )
    with ThreadPoolExecutor(2) as pool:
        busy = pool.submit(httpx.post, url + "/predict", json=ROW, timeout=30)
        # The request reached the model's queue (the gauge is set on submit): its 1 s model
        # call is under way.
        wait_for(lambda: 'mlserve_queue_depth{model="slow"' in httpx.get(url + "/metrics").text)
        health = httpx.get(url + "/health", timeout=30)
        assert health.status_code == 200
        assert not busy.done()  # /health came back while the model was still working
        assert busy.result().status_code == 200
