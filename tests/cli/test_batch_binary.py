"""`mlserve batch` sends numeric chunks as V2 binary tensors: the same output file, the same
errors and the same exit codes as the JSON path (`--no-binary`), and the server's own metrics show
which route answered."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import Ridge

from tests.support import CliResult, run_cli

pytestmark = pytest.mark.e2e
V2_ROUTE = "/v2/models/{name}/versions/{version}/infer"


def infer_requests(url: str) -> int:
    """How many V2 infer requests the server has answered (its Prometheus counter)."""
    text = httpx.get(url + "/metrics").text
    pattern = re.compile(r'^mlserve_requests_total\{[^}]*route="' + re.escape(V2_ROUTE) + r'"')
    return int(
        sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if pattern.match(line))
    )


def assert_same_answers(first: str, second: str) -> None:
    """The same rows, predictions and keys; numbers equal to the last bits or so: the server
    batches concurrent chunks together, and a BLAS product's last bit depends on the batch's
    size (whichever door the rows came through)."""
    a, b = ([json.loads(line) for line in text.splitlines()] for text in (first, second))
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        assert x["row"] == y["row"]
        if isinstance(x["prediction"], float):  # a regressor's value
            assert x["prediction"] == pytest.approx(y["prediction"], rel=1e-12)
        else:  # a label, in its own type (1 stays 1, not "1")
            assert x["prediction"] == y["prediction"]
            assert type(x["prediction"]) is type(y["prediction"])
        if "probabilities" in x:
            assert x["probabilities"] == pytest.approx(y["probabilities"], rel=1e-9, abs=1e-15)
            assert x["confidence"] == pytest.approx(y["confidence"], rel=1e-9)


def both_ways(url: str, *args: str) -> tuple[CliResult, CliResult, int]:
    """The batch run as V2 binary, then with --no-binary; and the V2 requests the first made."""
    before = infer_requests(url)
    binary = run_cli("batch", *args, "--url", url)
    sent = infer_requests(url) - before
    as_json = run_cli("batch", *args, "--no-binary", "--url", url)
    return binary, as_json, sent


def test_iris_csv_binary_equals_json(live_server: str, tmp_path: Path) -> None:
    rows = np.tile(load_iris().data, (17, 1))  # 2,550 rows: 3 chunks of 1,000
    path = tmp_path / "iris.csv"
    np.savetxt(path, rows, delimiter=",", fmt="%.1f")
    binary, as_json, sent = both_ways(live_server, "-m", "iris", "-i", str(path))
    assert binary.code == as_json.code == 0, binary.stderr
    assert_same_answers(binary.stdout, as_json.stdout)
    assert len(binary.stdout.splitlines()) == len(rows)
    assert sent == 2  # the first chunk names the version (JSON); the others go as tensors


def test_named_columns_in_another_order(live_server: str, tmp_path: Path) -> None:
    path = tmp_path / "credit.csv"
    rng = np.random.default_rng(3)
    lines = ["income,credit_score,age"] + [
        f"{rng.integers(1000, 90000)},{rng.integers(300, 850)},{rng.integers(18, 90)}"
        for _ in range(250)
    ]
    path.write_text("\n".join(lines) + "\n")
    args = ("-m", "credit", "-i", str(path), "--chunk-size", "100")
    binary, as_json, sent = both_ways(live_server, *args)
    assert binary.code == as_json.code == 0, binary.stderr
    assert_same_answers(binary.stdout, as_json.stdout)
    assert sent == 2


def test_a_bad_row_reads_the_same_either_way(live_server: str, tmp_path: Path) -> None:
    rows = np.tile(load_iris().data, (10, 1))
    path = tmp_path / "bad.csv"
    text = [",".join(f"{x:.1f}" for x in row) for row in rows]
    text[1234] = "5.1,3.5,1e39,0.2"  # a number the server refuses (beyond float32)
    path.write_text("\n".join(text) + "\n")
    out_binary, out_json = tmp_path / "binary.jsonl", tmp_path / "json.jsonl"
    before = infer_requests(live_server)
    binary = run_cli(
        "batch", "-m", "iris", "-i", str(path), "--out", str(out_binary), "--url", live_server
    )
    assert infer_requests(live_server) > before
    as_json = run_cli(
        "batch",
        "-m",
        "iris",
        "-i",
        str(path),
        "--out",
        str(out_json),
        "--no-binary",
        "--url",
        live_server,
    )
    assert binary.code == as_json.code != 0
    assert binary.stderr.replace(out_binary.name, "OUT") == as_json.stderr.replace(
        out_json.name, "OUT"
    )
    assert "row 1234 (line 1235)" in binary.stderr
    assert_same_answers(out_binary.read_text(), out_json.read_text())
    assert len(out_binary.read_text().splitlines()) == 1234  # every row before the bad one


def test_a_regressor_and_the_default_model(
    serve_manifest: Callable[..., str], tmp_path: Path
) -> None:
    x = np.random.default_rng(0).normal(size=(400, 5))
    joblib.dump(Ridge().fit(x, x @ np.arange(5.0)), tmp_path / "ridge.joblib")
    manifest = tmp_path / "models.yaml"
    manifest.write_text(
        f"models:\n  - {{name: ridge, runtime: sklearn, path: {tmp_path / 'ridge.joblib'}}}\n"
    )
    url = serve_manifest(manifest)
    path = tmp_path / "x.csv"
    np.savetxt(path, x, delimiter=",")
    binary, as_json, sent = both_ways(url, "-i", str(path), "--chunk-size", "64")
    assert binary.code == as_json.code == 0, binary.stderr
    assert_same_answers(binary.stdout, as_json.stdout)
    assert sent == 6  # 7 chunks: the first by JSON, which names the model and version


def test_npy_binary_equals_json_and_resumes(live_server: str, tmp_path: Path) -> None:
    rows = np.tile(load_iris().data, (7, 1))  # 1,050 rows
    source = tmp_path / "rows.npy"
    np.save(source, rows)
    binary, as_json, sent = both_ways(
        live_server, "-m", "iris", "-i", str(source), "--chunk-size", "100"
    )
    assert binary.code == as_json.code == 0, binary.stderr
    assert_same_answers(binary.stdout, as_json.stdout)
    assert sent == 10
    out = tmp_path / "out.jsonl"
    kept = "".join(binary.stdout.splitlines(keepends=True)[:321])
    out.write_text(kept)  # as if interrupted after 321 rows
    resumed = run_cli(
        "batch",
        "-m",
        "iris",
        "-i",
        str(source),
        "--out",
        str(out),
        "--resume",
        "--url",
        live_server,
    )
    assert resumed.code == 0, resumed.stderr
    assert_same_answers(out.read_text(), binary.stdout)
