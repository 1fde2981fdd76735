"""`mlserve validate`: exit 0 on a good manifest, 1 with one clear line on a broken one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import run_cli, write_manifest


def test_valid_and_load(sample_manifest: Path) -> None:
    result = run_cli("validate", str(sample_manifest))
    assert result.code == 0, result.stderr
    assert "ok, 11 model version(s)" in result.stdout
    loaded = run_cli("validate", str(sample_manifest), "--load")
    assert loaded.code == 0, loaded.stderr
    assert "iris:v2: loaded in" in loaded.stdout


def test_broken_manifest_exit_1_no_traceback(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, "models:\n  - {name: a, runtime: sklern, path: x}\n")
    result = run_cli("validate", str(path))
    assert result.code == 1
    assert "unknown runtime 'sklern'" in result.stderr
    assert str(path) in result.stderr
    assert "Traceback" not in result.stderr
    served = run_cli("serve", str(path))
    assert served.code == 1
    assert "unknown runtime 'sklern'" in served.stderr


def test_load_reports_a_corrupt_model(tmp_path: Path) -> None:
    (tmp_path / "bad.joblib").write_bytes(b"not a pickle")
    path = write_manifest(tmp_path, "models:\n  - {name: a, runtime: sklearn, path: bad.joblib}\n")
    result = run_cli("validate", str(path), "--load")
    assert result.code == 1
    assert "a:v1: FAILED" in result.stdout
    assert "1 model(s) failed to load" in result.stderr


def test_the_manifest_comes_from_the_environment_or_the_current_folder(
    fast_samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As every other command finds it: $MLSERVE_MANIFEST, else ./models.yaml."""
    write_manifest(
        tmp_path,
        f"models:\n  - {{name: iris, runtime: sklearn, path: {fast_samples / 'iris-v1.joblib'}}}\n",
    )
    from_env = run_cli("validate", env={"MLSERVE_MANIFEST": str(tmp_path / "models.yaml")})
    assert from_env.code == 0, from_env.stderr
    assert "ok, 1 model version(s): iris:v1" in from_env.stdout
    monkeypatch.delenv("MLSERVE_MANIFEST", raising=False)
    here = run_cli("validate", cwd=tmp_path)
    assert here.code == 0, here.stderr
    assert "ok, 1 model version(s)" in here.stdout


def test_every_problem_of_a_manifest_is_listed(tmp_path: Path) -> None:
    """It said "(and 2 more problem(s))" and showed only the first."""
    path = write_manifest(
        tmp_path,
        "models:\n  - {name: a, runtime: sklearn, path: x, colour: red}\n"
        "  - {name: b, runtime: sklearn}\n",
    )
    result = run_cli("validate", str(path))
    assert result.code == 1
    assert "unknown key 'colour'" in result.stderr
    assert "more problem(s), below" in result.stderr
    assert "also:" in result.stderr
    assert "missing required field 'path'" in result.stderr
