"""`mlserve batch`: CSV (with and without header), JSON lines, .npy; remote == --local."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

from tests.support import run_cli


@pytest.fixture(scope="module")
def iris_rows() -> list[list[float]]:
    return load_iris().data[::5].tolist()  # 30 rows of every class


def lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_csv_without_header_remote_equals_local(
    live_server: str, sample_manifest: Path, tmp_path: Path, iris_rows: list[list[float]]
) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("\n".join(",".join(map(str, r)) for r in iris_rows) + "\n")
    args = ("batch", "--model", "iris", "--input", str(path), "--chunk-size", "7")
    remote = run_cli(*args, "--url", live_server)
    local = run_cli(*args, "--local", "--manifest", str(sample_manifest))
    assert remote.code == 0, remote.stderr
    assert remote.stdout == local.stdout
    out = lines(remote.stdout)
    assert [r["row"] for r in out] == list(range(len(iris_rows)))
    truth = load_iris()
    expected = [truth.target_names[t] for t in truth.target[::5]]
    accuracy = np.mean([r["prediction"] == e for r, e in zip(out, expected, strict=True)])
    assert accuracy > 0.9


def test_csv_header_reorders_named_columns(live_server: str, tmp_path: Path) -> None:
    path = tmp_path / "credit.csv"
    path.write_text("credit_score,age,income\n710,42,52000\n400,30,1000\n")
    result = run_cli("batch", "--model", "credit", "--input", str(path), "--url", live_server)
    assert result.code == 0, result.stderr
    single = run_cli(
        "predict",
        "--model",
        "credit",
        "--json",
        '{"age": 42, "income": 52000, "credit_score": 710}',
        "--url",
        live_server,
    )
    first = lines(result.stdout)[0]
    assert first["prediction"] == json.loads(single.stdout)["prediction"]
    assert first["probabilities"] == json.loads(single.stdout)["probabilities"]


def test_jsonl_from_stdin_and_csv_output(live_server: str) -> None:
    text = '[5.1, 3.5, 1.4, 0.2]\n{"features": [6.7, 3.0, 5.2, 2.3]}\n'
    result = run_cli(
        "batch", "--input", "-", "--output-format", "csv", "--url", live_server, input=text
    )
    assert result.code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["prediction"] for r in rows] == ["setosa", "virginica"]
    assert set(rows[0]) == {
        "row",
        "prediction",
        "confidence",
        "p_setosa",
        "p_versicolor",
        "p_virginica",
    }


def test_npy_to_output_file(live_server: str, tmp_path: Path, iris_rows: list[list[float]]) -> None:
    source, target = tmp_path / "rows.npy", tmp_path / "out.jsonl"
    np.save(source, np.array(iris_rows))
    result = run_cli("batch", "--input", str(source), "--output", str(target), "--url", live_server)
    assert result.code == 0, result.stderr
    assert result.stdout == ""
    assert len(lines(target.read_text())) == len(iris_rows)


def test_bad_rows_say_where(live_server: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("5.1,3.5,1.4,0.2\n5.1,abc,1.4,0.2\n")
    result = run_cli("batch", "--input", str(path), "--url", live_server)
    assert result.code == 1
    assert "line 2" in result.stderr
    assert "'abc' is not a number" in result.stderr
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("1,2,3\n" * 5)
    result = run_cli("batch", "--input", str(narrow), "--url", live_server, "--chunk-size", "2")
    assert result.code == 1
    assert "rows 0-1: expected 4 features, got 3" in result.stderr
    missing = run_cli("batch", "--input", str(tmp_path / "none.csv"), "--url", live_server)
    assert missing.code == 1
    assert "no such file" in missing.stderr
