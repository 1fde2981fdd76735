"""`mlserve info`, remote and --local."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import run_cli


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
