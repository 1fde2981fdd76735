"""sha256 pins: a changed file is refused at load; that model fails, the rest serve."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from mlserve.engine.integrity import file_sha256, tree_sha256, verify
from tests.support import write_manifest

pytestmark = pytest.mark.unit


def test_verify_files_and_folders(tmp_path: Path) -> None:
    target = tmp_path / "m.bin"
    target.write_bytes(b"model bytes")
    verify(target, file_sha256(target))
    verify(target, None)
    with pytest.raises(ValueError, match="sha256 mismatch"):
        verify(target, "0" * 64)
    folder = tmp_path / "hf"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "w.bin").write_bytes(b"w")
    pinned = tree_sha256(folder)
    verify(folder, pinned.upper())
    (folder / "sub" / "w.bin").write_bytes(b"changed")
    with pytest.raises(ValueError, match="refusing to load it"):
        verify(folder, pinned)


def test_wrong_pin_fails_that_model_only(
    fast_samples: Path, tmp_path: Path, serve_manifest: Callable[..., str]
) -> None:
    shutil.copy(fast_samples / "iris-v1.joblib", tmp_path / "good.joblib")
    shutil.copy(fast_samples / "iris-v2.joblib", tmp_path / "tampered.joblib")
    good = file_sha256(tmp_path / "good.joblib")
    url = serve_manifest(
        write_manifest(
            tmp_path,
            f"""
models:
  - {{name: good, runtime: sklearn, path: good.joblib, sha256: {good}}}
  - {{name: tampered, runtime: sklearn, path: tampered.joblib, sha256: {"ab" * 32}}}
""",
        )
    )
    row = {"features": [5.1, 3.5, 1.4, 0.2]}
    assert httpx.post(url + "/models/good/predict", json=row).status_code == 200
    refused = httpx.post(url + "/models/tampered/predict", json=row)
    assert refused.status_code == 503
    assert "sha256 mismatch" in refused.json()["message"]
