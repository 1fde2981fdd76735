"""Live manifest reload: through `mlserve reload`, SIGHUP (also under --workers) and
`--watch`; a broken manifest or a broken model file changes nothing that serves."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import joblib
import pytest
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

from mlserve import wire
from tests.support import run_cli, serving_process, wait_for, write_manifest

ROW = {"features": [5.9, 3.0, 5.1, 1.8]}
MODELS = """
  - {name: iris, version: v1, runtime: sklearn, path: iris-v1.joblib,
     labels: [setosa, versicolor, virginica]}
  - {name: iris, version: v2, runtime: sklearn, path: iris-v2.joblib}
"""


@pytest.fixture
def folder(iris_folder: Path) -> Path:
    shutil.copy(iris_folder / "iris-v1.joblib", iris_folder / "iris-v3.joblib")
    return iris_folder


def manifest(folder: Path, models: str = MODELS, routing: str = "") -> Path:
    text = f"models:\n{models}"
    if routing:
        text += f"routing:\n{routing}"
    return write_manifest(folder, text)


def version_of(url: str, path: str = "/models/iris/predict", fresh: bool = False) -> str:
    headers = {"Connection": "close"} if fresh else {}  # a new connection: any worker
    answer = httpx.post(url + path, json=ROW, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers[wire.MODEL_VERSION_HEADER] == answer.json()["version"]
    version: str = answer.json()["version"]
    return version


def ready_on_a_fresh_connection(url: str) -> bool:
    answer = httpx.get(url + wire.READY, headers={"Connection": "close"}, timeout=30)
    return answer.status_code == 200


def index(url: str) -> dict[str, dict[str, str]]:
    rows = httpx.post(url + wire.V2_REPOSITORY_INDEX).json()
    return {r["version"]: r for r in rows if r["name"] == "iris"}


def test_reload_adds_versions_moves_defaults_aliases_and_splits(
    folder: Path, serve_manifest: Callable[..., str]
) -> None:
    path = manifest(folder, routing="  iris: {aliases: {stable: v1}}\n")
    url = serve_manifest(path)
    assert version_of(url) == "v2"  # the last listed is the default
    assert version_of(url, "/models/iris/versions/stable/predict") == "v1"

    added = MODELS.replace("labels: [setosa", "default: true, labels: [setosa") + (
        "  - {name: iris, version: v3, runtime: sklearn, path: iris-v3.joblib}\n"
    )
    manifest(folder, added, "  iris: {aliases: {stable: v3}}\n")
    result = run_cli("reload", "--url", url)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["loaded"] == ["iris:v3"]
    assert version_of(url) == "v1"
    assert version_of(url, "/models/iris/versions/stable/predict") == "v3"
    v2 = {
        "inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 4], "data": ROW["features"]}]
    }
    infer = httpx.post(url + "/v2/models/iris/versions/stable/infer", json=v2)
    assert infer.json()["model_version"] == "v3"
    assert infer.headers[wire.MODEL_VERSION_HEADER] == "v3"

    manifest(folder, added, "  iris: {traffic: {v2: 100}}\n")
    assert run_cli("reload", "--url", url).code == 0
    assert {version_of(url) for _ in range(10)} == {"v2"}
    assert version_of(url, "/models/iris/versions/v3/predict") == "v3"

    manifest(folder)  # v3 removed again
    report = json.loads(run_cli("reload", "--url", url).stdout)
    assert report["removed"] == ["iris:v3"]
    assert httpx.post(url + "/models/iris/versions/v3/predict", json=ROW).status_code == 404
    assert set(index(url)) == {"v1", "v2"}


BROKEN = {
    "invalid YAML": "models: [\n",
    "unknown key": "models:\n  - {name: iris, runtime: sklearn, pth: iris-v1.joblib}\n",
    "unknown runtime": "models:\n  - {name: iris, runtime: sklern, path: iris-v1.joblib}\n",
    "missing file": "models:\n  - {name: iris, runtime: sklearn, path: nowhere.joblib}\n",
    "duplicate version": "models:\n" + MODELS.replace("version: v2", "version: v1"),
    "unknown default model": f"server: {{default_model: nope}}\nmodels:\n{MODELS}",
    "bad split": f"models:\n{MODELS}routing:\n  iris: {{traffic: {{v1: 50, v2: 60}}}}\n",
    "alias of nothing": f"models:\n{MODELS}routing:\n  iris: {{aliases: {{stable: v7}}}}\n",
    # Hostile ones (issue 34): each was refused only after seconds to minutes of work.
    "alias bomb": "".join(
        f"x{level}: &x{level} [{', '.join([f'*x{level - 1}' if level else 'lol'] * 9)}]\n"
        for level in range(9)
    )
    + f"models:\n{MODELS}",
    "nested too deeply": "models: " + "[" * 5000 + "]" * 5000 + "\n",
    "too big": f"models:\n{MODELS}" + "#" * (5 * 1024 * 1024) + "\n",
}


def test_a_broken_manifest_changes_nothing(
    folder: Path, serve_manifest: Callable[..., str]
) -> None:
    path = manifest(folder, routing="  iris: {aliases: {stable: v1}}\n")
    url = serve_manifest(path)
    before = (index(url), version_of(url), version_of(url, "/models/iris/versions/stable/predict"))
    for problem, text in BROKEN.items():
        path.write_text(text)
        expected = run_cli("validate", str(path))
        assert expected.code == 1, problem
        message = expected.stderr.strip().removeprefix("error: ")
        refused = run_cli("reload", "--url", url)
        assert refused.code == 1, problem
        assert message in refused.stderr, (problem, message, refused.stderr)
        after = (
            index(url),
            version_of(url),
            version_of(url, "/models/iris/versions/stable/predict"),
        )
        assert after == before, problem
    metrics = httpx.get(url + wire.METRICS).text
    assert f'mlserve_reloads_total{{outcome="refused"}} {float(len(BROKEN))}' in metrics


def other_model(path: Path) -> None:
    """A different classifier for the same features: its answers tell it apart."""
    data = load_iris()
    joblib.dump(
        DecisionTreeClassifier(max_depth=1, random_state=0).fit(data.data, data.target), path
    )


@pytest.mark.slow
def test_watch_keeps_the_old_version_on_a_corrupt_file_and_takes_the_next_good_one(
    folder: Path,
) -> None:
    path = manifest(folder)
    with serving_process(str(path), "--watch") as served:
        url = served.url
        first = httpx.post(url + "/models/iris/versions/v2/predict", json=ROW).json()
        (folder / "iris-v2.joblib").write_bytes(b"corrupt: not a pickle")
        wait_for(lambda: "iris-v2.joblib" in index(url)["v2"]["reason"])
        ready = httpx.get(url + wire.READY).json()
        v2 = next(m for m in ready["models"] if m["version"] == "v2")
        assert "iris-v2.joblib" in v2["replacement_error"]
        assert v2["status"] == "ready"
        again = httpx.post(url + "/models/iris/versions/v2/predict", json=ROW)
        assert again.json() == first  # the old model still answers

        other_model(folder / "tree.tmp")
        os.replace(folder / "tree.tmp", folder / "iris-v2.joblib")
        wait_for(lambda: index(url)["v2"]["reason"] == "")
        changed = httpx.post(url + "/models/iris/versions/v2/predict", json=ROW).json()
        assert changed["probabilities"] != first["probabilities"]
        metrics = httpx.get(url + wire.METRICS).text
        assert 'mlserve_reload_load_failures_total{model="iris",version="v2"}' in metrics


@pytest.mark.slow
def test_sighup_and_the_reload_route_reach_every_worker(folder: Path) -> None:
    path = manifest(folder)
    with serving_process(str(path), "--workers", "2") as served:
        url = served.url
        # serving_process waited for one worker to be ready; wait for both
        wait_for(lambda: all(ready_on_a_fresh_connection(url) for _ in range(20)))
        assert {version_of(url, fresh=True) for _ in range(20)} == {"v2"}
        manifest(folder, MODELS.replace("labels: [setosa", "default: true, labels: [setosa"))
        served.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: {version_of(url, fresh=True) for _ in range(20)} == {"v1"})

        manifest(folder, routing="  iris: {traffic: {v2: 100}}\n")
        assert run_cli("reload", "--url", url).code == 0
        wait_for(lambda: {version_of(url, fresh=True) for _ in range(20)} == {"v2"})
        # the workers were reloaded, not restarted: the supervisor kept them
        assert "restarting processes" not in served.output()


def test_a_reload_that_keeps_a_version_exits_1_and_names_the_reason(
    folder: Path, serve_manifest: Callable[..., str]
) -> None:
    """A deploy script must notice: the garbage file is refused, the old model serves on,
    `mlserve reload` exits 1 saying why, and `info -o wide` shows the reason too."""
    url = serve_manifest(manifest(folder))
    (folder / "iris-v2.joblib").write_bytes(b"corrupt: not a pickle")
    result = run_cli("reload", "--url", url, "-o", "table")
    assert result.code == 1, result.stdout
    assert "kept: iris:v2" in result.stdout
    assert "error: iris:v2: iris-v2.joblib" in result.stderr
    assert "not a sklearn model file" in result.stderr  # not "a package is not installed"
    assert httpx.post(url + "/models/iris/versions/v2/predict", json=ROW).status_code == 200
    wide = run_cli("info", "--url", url, "-o", "wide")
    row = next(
        line for line in wide.stdout.splitlines() if line.startswith("iris") and " v2" in line
    )
    assert "ready" in row
    assert "iris-v2.joblib" in row  # the failed replacement's reason
    clean = run_cli("reload", "--url", url, "-o", "json")
    assert clean.code == 1  # still the same broken file
    assert json.loads(clean.stdout)["reasons"][0].startswith("iris:v2: ")


def projected_volume(folder: Path, name: str, files: dict[str, Path | str]) -> None:
    """Write `files` as Kubernetes writes a ConfigMap or Secret volume: into a timestamped
    folder, then `..data` repointed to it in one rename; each file is a link through
    `..data`."""
    data = folder / name
    data.mkdir()
    for file, content in files.items():
        if isinstance(content, Path):
            shutil.copy(content, data / file)
        else:
            (data / file).write_text(content)
    (folder / "..data_tmp").symlink_to(name)
    os.replace(folder / "..data_tmp", folder / "..data")
    for file in files:
        if not (folder / file).is_symlink():
            (folder / file).symlink_to(Path("..data") / file)


@pytest.mark.parametrize("how", ["watch", "reload"])
def test_a_repointed_configmap_volume_is_reloaded(folder: Path, tmp_path: Path, how: str) -> None:
    """A manifest and a model read through links (the ConfigMap pattern) were resolved once:
    `--watch` and `mlserve reload` kept reading the old folder (issue 34)."""
    volume = tmp_path / "volume"
    volume.mkdir()
    text = "models:\n  - {name: iris, runtime: sklearn, path: model.joblib}\n"
    projected_volume(
        volume, "..2026_12_04_v1", {"models.yaml": text, "model.joblib": folder / "iris-v1.joblib"}
    )
    flags = ["--watch"] if how == "watch" else []
    with serving_process(str(volume / "models.yaml"), *flags) as served:
        first = httpx.post(served.url + "/predict", json=ROW).json()
        other_model(tmp_path / "tree.joblib")
        aliased = text + "routing:\n  iris: {aliases: {stable: v1}}\n"
        projected_volume(
            volume,
            "..2026_12_04_v2",
            {"models.yaml": aliased, "model.joblib": tmp_path / "tree.joblib"},
        )
        shutil.rmtree(volume / "..2026_12_04_v1")  # as the kubelet does
        if how == "reload":
            assert run_cli("reload", "--url", served.url).code == 0
        stable = served.url + "/models/iris/versions/stable/predict"
        wait_for(lambda: httpx.post(stable, json=ROW).status_code == 200, timeout=30)
        changed = httpx.post(served.url + "/predict", json=ROW).json()
    assert changed != first  # the model behind the repointed link answers now
