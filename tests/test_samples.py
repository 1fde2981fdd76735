"""The sample build's fast part, as the README's first command runs it: the scikit-learn
samples, built offline in seconds with progress on stderr, held-out scores on stdout, and
served from the .skops files the sample manifest names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT, in_process, write_manifest

pytestmark = pytest.mark.unit

FAST = ["iris", "credit", "diabetes", "skops"]


def test_the_fast_samples_build_and_serve(tmp_path: Path) -> None:
    command = [sys.executable, "sample_models/build.py", "--out", str(tmp_path), "--only", *FAST]
    built = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    assert [line for line in built.stderr.splitlines() if line.startswith("building")] == [
        f"building {name} ..." for name in FAST
    ]
    scores = dict(line.rsplit(maxsplit=1) for line in built.stdout.splitlines())
    assert float(scores["iris v2 accuracy"]) > 0.9
    assert float(scores["credit accuracy"]) > 0.85

    sample = yaml.safe_load((ROOT / "sample_models" / "models.yaml").read_text())
    sklearn = [m for m in sample["models"] if m["runtime"] == "sklearn"]
    for model in sklearn:
        model["path"] = str(tmp_path / model["path"])
    manifest = write_manifest(tmp_path, yaml.safe_dump({"models": sklearn}))
    with in_process(manifest) as client:
        for model in sklearn:
            route = f"/models/{model['name']}/versions/{model.get('version', 'v1')}/predict"
            answer = client.post(route, json={"features": model["example"]})
            assert answer.status_code == 200, answer.text
        iris = client.post("/models/iris/predict", json={"features": [5.1, 3.5, 1.4, 0.2]})
        assert iris.json()["prediction"] == "setosa"
