"""Aliases, traffic splits and shadows from the manifest's `routing:` section."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest

from mlserve import wire
from mlserve.config.load import load_manifest
from mlserve.engine.core import InferenceCore
from tests.models import fragile_classifier, slow_classifier
from tests.support import run_cli, wait_for, write_manifest

ROW = {"features": [5.9, 3.0, 5.1, 1.8]}
V1 = """
  - {name: iris, version: v1, runtime: sklearn, path: iris-v1.joblib,
     labels: [setosa, versicolor, virginica]}
"""


@pytest.fixture
def folder(iris_folder: Path) -> Path:
    return iris_folder


def serve(folder: Path, serve_manifest: Callable[..., str], routing: str, more: str = "") -> str:
    text = f"""models:{V1}
  - {{name: iris, version: v2, runtime: sklearn, path: iris-v2.joblib}}
{more}routing:
  iris: {routing}
"""
    return serve_manifest(write_manifest(folder, text))


async def versions_of(
    url: str, requests: int, headers: Callable[[int], dict[str, str]]
) -> list[str]:
    """The version that answered each request, 32 at a time."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        gate = asyncio.Semaphore(32)

        async def one(i: int) -> str:
            async with gate:
                answer = await http.post("/models/iris/predict", json=ROW, headers=headers(i))
                assert answer.status_code == 200
                version: str = answer.json()["version"]
                assert answer.headers[wire.MODEL_VERSION_HEADER] == version
                return version

        return await asyncio.gather(*(one(i) for i in range(requests)))


def test_a_90_10_split_over_10000_requests(
    folder: Path, serve_manifest: Callable[..., str]
) -> None:
    """10,000 look-ups by the inference core the server runs (the split is the core's; over
    HTTP they would take a minute on this machine), then a few hundred answers over HTTP."""
    text = f"models:{V1}  - {{name: iris, version: v2, runtime: sklearn, path: iris-v2.joblib}}\n"
    path = write_manifest(folder, text + "routing:\n  iris: {traffic: {v1: 90, v2: 10}}\n")
    core = InferenceCore(load_manifest(path))
    counts = Counter(core.model("iris").spec.version for _ in range(10_000))
    assert set(counts) == {"v1", "v2"}
    assert abs(counts["v2"] / 10_000 - 0.10) <= 0.02, counts
    over_http = Counter(asyncio.run(versions_of(serve_manifest(path), 400, lambda i: {})))
    assert set(over_http) == {"v1", "v2"}
    assert abs(over_http["v2"] / 400 - 0.10) <= 0.06, over_http


def test_a_routing_key_always_reaches_the_same_version(
    folder: Path, serve_manifest: Callable[..., str]
) -> None:
    url = serve(folder, serve_manifest, "{traffic: {v1: 50, v2: 50}}")
    keys = [f"user-{i}" for i in range(100)]
    rounds = [
        asyncio.run(versions_of(url, len(keys), lambda i: {wire.ROUTING_KEY_HEADER: keys[i]}))
        for _ in range(3)
    ]
    assert rounds[0] == rounds[1] == rounds[2]
    assert set(rounds[0]) == {"v1", "v2"}  # the keys spread over both


def test_an_alias_works_in_every_route_and_the_cli(
    folder: Path, serve_manifest: Callable[..., str], cli: Callable[..., object]
) -> None:
    url = serve(folder, serve_manifest, "{aliases: {stable: v1, canary: v2}}")
    for alias, version in (("stable", "v1"), ("canary", "v2")):
        answer = httpx.post(f"{url}/models/iris/versions/{alias}/predict", json=ROW)
        assert answer.json()["version"] == version
        batch = httpx.post(
            f"{url}/models/iris/versions/{alias}/predict/batch", json={"inputs": [ROW["features"]]}
        )
        assert batch.json()["version"] == version
        v2 = {
            "inputs": [
                {"name": "input", "datatype": "FP64", "shape": [1, 4], "data": ROW["features"]}
            ]
        }
        infer = httpx.post(f"{url}/v2/models/iris/versions/{alias}/infer", json=v2)
        assert infer.json()["model_version"] == version
        for args in (["--model", f"iris:{alias}"], ["--model", "iris", "--model-version", alias]):
            result = run_cli("predict", *args, "--features", "5.9,3.0,5.1,1.8", "--url", url)
            assert result.code == 0, result.stderr
            assert json.loads(result.stdout)["version"] == version
    unknown = httpx.post(f"{url}/models/iris/versions/beta/predict", json=ROW)
    assert unknown.status_code == 404


def shadow_info(url: str) -> dict[str, object]:
    shadow: dict[str, object] = httpx.get(url + wire.MODEL_INFO).json()["routing"]["iris"]["shadow"]
    return shadow


def test_a_shadow_is_measured_and_never_returned(
    folder: Path, serve_manifest: Callable[..., str]
) -> None:
    url = serve(folder, serve_manifest, "{shadow: {version: v2}}")
    rows = [[5.1, 3.5, 1.4, 0.2], [5.9, 3.0, 5.1, 1.8], [6.0, 2.7, 5.1, 1.6]]
    for row in rows:
        answer = httpx.post(f"{url}/models/iris/versions/v1/predict", json={"features": row})
        assert answer.json()["version"] == "v1"
    wait_for(lambda: shadow_info(url)["requests"] == 3)
    info = shadow_info(url)
    assert info["version"] == "v2"
    assert info["errors"] == 0
    assert 0 <= float(str(info["agreement"])) <= 1
    metrics = httpx.get(url + wire.METRICS).text
    assert re.search(r'mlserve_shadow_agreement\{model="iris",version="v2"\} [0-9.]+', metrics)
    assert (
        'mlserve_shadow_requests_total{model="iris",outcome="compared",version="v2"} 3.0' in metrics
    )
    table = run_cli("info", "--url", url, "-o", "table")
    assert "routing" in table.stdout
    assert "3 requests" in table.stdout


def test_a_shadow_that_agrees_with_itself(folder: Path, serve_manifest: Callable[..., str]) -> None:
    shutil.copy(folder / "iris-v1.joblib", folder / "iris-v1-copy.joblib")
    more = """  - {name: iris, version: v1copy, runtime: sklearn, path: iris-v1-copy.joblib,
     labels: [setosa, versicolor, virginica]}
"""
    url = serve(folder, serve_manifest, "{shadow: {version: v1copy}}", more)
    for _ in range(5):
        httpx.post(
            f"{url}/models/iris/versions/v1/predict/batch",
            json={"inputs": [[5.1, 3.5, 1.4, 0.2]] * 4},
        )
    wait_for(lambda: shadow_info(url)["requests"] == 5)
    assert shadow_info(url)["agreement"] == 1.0


@pytest.mark.parametrize("kind", ["raises", "hangs"])
def test_a_failing_or_hanging_shadow_changes_no_primary_answer(
    kind: str, folder: Path, serve_manifest: Callable[..., str]
) -> None:
    """Negative inputs make the fragile shadow raise; the slow one takes 2 s a call, so its
    small queue fills and copies are dropped. The primary answers stay byte for byte."""
    if kind == "raises":
        fragile_classifier(str(folder / "shadow.joblib"))
    else:
        slow_classifier(str(folder / "shadow.joblib"), seconds=2)
    bodies = [{"features": [-1.0 * i, 3.0, 5.1, 1.8]} for i in range(1, 9)]
    plain = serve(folder, serve_manifest, "{aliases: {stable: v1}}")
    expected = [httpx.post(f"{plain}/models/iris/predict", json=b).content for b in bodies]
    more = "  - {name: iris, version: shadow, runtime: sklearn, path: shadow.joblib}\n"
    url = serve(
        folder,
        serve_manifest,
        "{shadow: {version: shadow, queue_limit: 2}, traffic: {v2: 100}}",
        more,
    )
    got = [httpx.post(f"{url}/models/iris/predict", json=b) for b in bodies]
    assert [g.status_code for g in got] == [200] * len(bodies)
    assert [g.content for g in got] == expected
    if kind == "raises":
        wait_for(lambda: shadow_info(url)["errors"] == len(bodies))
    else:
        wait_for(lambda: int(str(shadow_info(url)["dropped"])) >= 1)


def test_a_slow_shadows_queue_is_bounded_by_bytes(
    folder: Path, serve_manifest: Callable[..., str]
) -> None:
    """The queue was bounded by count only: a slow shadow held about 57 MB per 100,000-row
    request, and 60 of them took the server from 417 MB to 3.8 GB (issue 34). With
    queue_bytes 1 MB, copies of 5,000-row requests (about 0.4 MB each) past it are dropped
    while the shadow's 2 s calls run; every primary answer is still 200."""
    slow_classifier(str(folder / "shadow.joblib"), seconds=2)
    more = "  - {name: iris, version: shadow, runtime: sklearn, path: shadow.joblib}\n"
    routing = "{shadow: {version: shadow, queue_bytes: 1000000}, traffic: {v2: 100}}"
    url = serve(folder, serve_manifest, routing, more)
    rows = np.random.default_rng(9).uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], (5000, 4))
    for _ in range(10):
        answer = httpx.post(
            f"{url}/models/iris/predict/batch", json={"inputs": rows.tolist()}, timeout=60
        )
        assert answer.status_code == 200
    wait_for(lambda: int(str(shadow_info(url).get("dropped", 0))) >= 5, timeout=30)
    wait_for(lambda: int(str(shadow_info(url).get("requests", 0))) >= 1, timeout=60)
    assert int(str(shadow_info(url)["dropped"])) <= 8  # one in the model, two fit the bytes
