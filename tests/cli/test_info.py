"""`mlserve info`, remote and --local."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import run_cli, write_manifest


def test_info_json_remote_and_local(live_server: str, sample_manifest: Path) -> None:
    remote = run_cli("info", "--url", live_server)
    assert remote.code == 0, remote.stderr
    body = json.loads(remote.stdout)
    assert body["default_model"] == "iris"
    assert {(m["model"], m["version"]) for m in body["models"]} >= {
        ("iris", "v1"),
        ("credit", "v1"),
    }
    local = json.loads(run_cli("info", "--local", "--manifest", str(sample_manifest)).stdout)
    key = {(m["model"], m["version"]): m for m in local["models"]}
    assert key[("iris", "v2")]["labels"] == ["setosa", "versicolor", "virginica"]
    assert key[("iris", "v2")]["status"] == "ready"


def test_info_table(live_server: str) -> None:
    result = run_cli("info", "--url", live_server, "--output", "table", env={"COLUMNS": "200"})
    assert result.code == 0
    for word in ("iris", "credit", "sklearn", "ready", "age, income, credit_score"):
        assert word in result.stdout


def test_wide_is_one_line_per_version_at_any_width_with_no_empty_column(
    fast_samples: Path, tmp_path: Path
) -> None:
    """At 80 columns rich folded every word ("iri/s", "sci/kit/-le/arn") over many lines."""
    manifest = write_manifest(
        tmp_path,
        f"""
models:
  - {{name: iris, version: v1, runtime: sklearn, path: {fast_samples / "iris-v1.joblib"}}}
  - {{name: iris, version: v2, default: true, runtime: sklearn,
     path: {fast_samples / "iris-v2.joblib"}}}
  - {{name: broken, runtime: sklearn, path: {tmp_path / "broken.joblib"}}}
""",
    )
    (tmp_path / "broken.joblib").write_bytes(b"not a pickle at all")
    for columns in ("80", "120"):
        wide = run_cli(
            "info", "--local", "--manifest", str(manifest), "-o", "wide", env={"COLUMNS": columns}
        )
        assert wide.code == 0, wide.stderr
        header, *rows = wide.stdout.splitlines()
        assert len(rows) == 3  # one line per version, however long
        assert header.split()[:5] == ["model", "version", "status", "runtime", "takes"]
        assert "default" not in header.split()  # the version's `*` says it
        assert "scikit-learn" in wide.stdout  # whole words
        default = next(r for r in rows if r.split()[:2] == ["iris", "v2"])
        assert default.split()[2:4] == ["*", "ready"]  # the version column marks the default
        broken = next(r for r in rows if r.startswith("broken"))
        assert "failed" in broken
        assert "broken.joblib" in broken  # the reason column says why
    tsv = run_cli("info", "--local", "--manifest", str(manifest), "-o", "tsv")
    cells = [line.split("\t") for line in tsv.stdout.splitlines()]
    assert len({len(row) for row in cells}) == 1  # every row has every column
    assert cells[0][-1] == "reason"
