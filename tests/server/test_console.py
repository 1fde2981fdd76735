"""The console's routes over HTTP: the page and its assets, the stats it polls (moved by real
traffic), the key it needs, and turning it off from the manifest, a flag or the environment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support import serving_process, write_manifest

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


def manifest_text(samples: Path, server: str = "{}", *, broken: bool = True) -> str:
    text = f"""
server: {server}
models:
  - {{name: iris, version: v1, runtime: sklearn, path: {samples / "iris-v1.joblib"}}}
  - {{name: iris, version: v2, default: true, runtime: sklearn,
      path: {samples / "iris-v2.joblib"}, batching: {{max_batch_size: 16, max_wait_ms: 5}}}}
"""
    if broken:  # a failed model: the server never turns ready
        text += f"  - {{name: broken, runtime: sklearn, path: {samples / 'models.yaml'}}}\n"
    return text


def test_page_and_assets_are_served_with_a_strict_policy(
    samples: Path, tmp_path: Path, serve_manifest: Callable[..., str]
) -> None:
    url = serve_manifest(write_manifest(tmp_path, manifest_text(samples)))
    page = httpx.get(url + "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'data-stats="/console/stats"' in page.text
    for asset, kind in [("console.js", "javascript"), ("console.css", "css")]:
        served = httpx.get(f"{url}/console-assets/{asset}")
        assert served.status_code == 200
        assert kind in served.headers["content-type"]
    assert "{{" not in page.text  # every placeholder filled
    assert "http" not in page.text.split("<body")[0]  # nothing from another origin


def test_stats_list_every_version_and_move_with_traffic(
    samples: Path, tmp_path: Path, serve_manifest: Callable[..., str]
) -> None:
    url = serve_manifest(write_manifest(tmp_path, manifest_text(samples)))
    before = httpx.get(url + "/console/stats").json()
    by_key = {(m["model"], m["version"]): m for m in before["models"]}
    assert set(by_key) == {("iris", "v1"), ("iris", "v2"), ("broken", "v1")}
    assert by_key["broken", "v1"]["status"] == "failed"
    assert by_key["broken", "v1"]["reason"]
    assert by_key["iris", "v2"]["default"] is True
    assert by_key["iris", "v2"]["live"]["requests"] == 0
    assert before["routes"]["operations"]["predict"] == "/predict"

    with httpx.Client(base_url=url) as client:
        for _ in range(20):
            assert client.post("/models/iris/predict", json={"features": IRIS_ROW}).is_success
        wrong = client.post("/models/iris/versions/v1/predict", json={"features": [1]})
        assert wrong.status_code == 400
        assert client.post("/predict/batch", json={"inputs": [IRIS_ROW] * 10}).is_success
    after = {
        (m["model"], m["version"]): m["live"]
        for m in httpx.get(url + "/console/stats").json()["models"]
    }
    v2, v1 = after["iris", "v2"], after["iris", "v1"]
    assert v2["requests"] == 21
    assert v2["requests_per_s"] > 0
    assert v2["p50_ms"] > 0
    assert v2["p99_ms"] >= v2["p50_ms"]
    assert v2["mean_batch_rows"] >= 1
    assert v2["errors"] == {}
    assert v1["requests"] == 1
    assert v1["errors"] == {"400": 1}
    assert sum(v2["series"]["requests_per_s"]) > 0


def test_stats_need_the_key_but_the_page_does_not(
    samples: Path,
    tmp_path: Path,
    serve_manifest: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_CONSOLE_KEYS", "right-key")
    url = serve_manifest(
        write_manifest(tmp_path, manifest_text(samples, "{api_key_env: TEST_CONSOLE_KEYS}"))
    )
    assert httpx.get(url + "/").status_code == 200
    assert httpx.get(url + "/console-assets/console.js").status_code == 200
    assert httpx.get(url + "/console/stats").status_code == 401
    wrong = httpx.get(url + "/console/stats", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401
    right = httpx.get(url + "/console/stats", headers={"Authorization": "Bearer right-key"})
    assert right.status_code == 200
    assert len(right.json()["models"]) == 3


def test_console_off_in_the_manifest(
    samples: Path, tmp_path: Path, serve_manifest: Callable[..., str]
) -> None:
    url = serve_manifest(write_manifest(tmp_path, manifest_text(samples, "{console: false}")))
    assert httpx.get(url + "/").status_code == 404
    assert httpx.get(url + "/console/stats").status_code == 404
    assert httpx.get(url + "/console-assets/console.js").status_code == 404
    assert httpx.post(url + "/predict", json={"features": IRIS_ROW}).is_success


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "env"),
    [(["--no-console"], {}), ([], {"MLSERVE_CONSOLE": "false"})],
    ids=["flag", "environment"],
)
def test_console_off_from_the_command_line_or_environment(
    samples: Path, tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    manifest = write_manifest(tmp_path, manifest_text(samples, broken=False))
    with serving_process(str(manifest), *args, env=env) as served:
        assert httpx.get(served.url + "/").status_code == 404
        assert httpx.get(served.url + "/health").status_code == 200
        log = served.output()
    assert "console http" not in log


@pytest.mark.slow
def test_the_start_up_line_names_the_console(samples: Path, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, manifest_text(samples, broken=False))
    with serving_process(str(manifest)) as served:
        assert httpx.get(served.url + "/").status_code == 200
        assert f"console {served.url}/" in served.output()
