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
    rows: list[list[float]] = load_iris().data[::5].tolist()  # 30 rows of every class
    return rows


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
    result = run_cli("batch", "--input", "-", "-o", "csv", "--url", live_server, input=text)
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
    result = run_cli("batch", "--input", str(source), "--out", str(target), "--url", live_server)
    assert result.code == 0, result.stderr
    assert result.stdout == ""
    assert len(lines(target.read_text())) == len(iris_rows)


def test_bad_rows_say_where(live_server: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("5.1,3.5,1.4,0.2\n5.1,abc,1.4,0.2\n")
    result = run_cli("batch", "--input", str(path), "--url", live_server)
    assert result.code == 1
    assert "line 2, column 2: 'abc' is not a number" in result.stderr
    assert len(lines(result.stdout)) == 1  # the row before the bad line is answered
    assert result.stderr.endswith("mlserve: 1 rows written\n")  # stdout: no --resume hint
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("1,2,3\n" * 5)
    result = run_cli("batch", "--input", str(narrow), "--url", live_server, "--chunk-size", "2")
    assert result.code == 1
    assert "rows 0-1 (lines 1-2): expected 4 features, got 3" in result.stderr
    missing = run_cli("batch", "--input", str(tmp_path / "none.csv"), "--url", live_server)
    assert missing.code == 1
    assert "no such file" in missing.stderr


def write_iris_csv(path: Path, rows: int) -> None:
    block = "".join(
        f"{5 + i % 3 * 0.7:.1f},3.1,{1.4 + i % 3 * 2:.1f},{0.2 + i % 3 * 0.9:.1f}\n"
        for i in range(1000)
    )
    with path.open("w") as out:
        out.write("sepal_length,sepal_width,petal_length,petal_width\n")
        for _ in range(rows // 1000):
            out.write(block)


def peak_rss_mb(args: list[str]) -> float:
    """Run the CLI in a child process and return that process's peak RSS."""
    import subprocess
    import sys

    code = (
        "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, sys.executable, "-m", "mlserve", *args],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def test_a_million_rows_stream_in_bounded_memory(sample_manifest: Path, tmp_path: Path) -> None:
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    write_iris_csv(small, 50_000)
    write_iris_csv(big, 1_000_000)
    common = [
        "batch",
        "--model",
        "iris",
        "--model-version",
        "v1",
        "--local",
        "--manifest",
        str(sample_manifest),
        "-o",
        "csv",
        "--chunk-size",
        "5000",
    ]
    small_rss = peak_rss_mb([*common, "--input", str(small), "--out", str(tmp_path / "a")])
    big_rss = peak_rss_mb([*common, "--input", str(big), "--out", str(tmp_path / "b")])
    with (tmp_path / "b").open() as result:
        assert sum(1 for _ in result) == 1_000_001  # a header and one line per row
    print(f"peak RSS: 50,000 rows {small_rss:.0f} MB, 1,000,000 rows {big_rss:.0f} MB")
    assert big_rss - small_rss < 40  # 20x the rows, (nearly) the same memory


def test_progress_bar_on_a_terminal_and_not_when_piped(live_server: str, tmp_path: Path) -> None:
    import os
    import pty
    import subprocess
    import sys

    source = tmp_path / "rows.csv"
    write_iris_csv(source, 20_000)
    args = [
        sys.executable,
        "-m",
        "mlserve",
        "batch",
        "--input",
        str(source),
        "--out",
        str(tmp_path / "out.jsonl"),
        "--url",
        live_server,
        "--chunk-size",
        "500",
    ]
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        args,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command is done
            break
        if not chunk:
            break
        screen += chunk
    assert proc.wait(timeout=120) == 0
    text = screen.decode(errors="replace")
    assert "20,000 rows" in text
    assert "rows/s" in text
    assert "100%" in text
    piped = run_cli(
        "batch", "--input", str(source), "--out", str(tmp_path / "o2"), "--url", live_server
    )
    assert piped.code == 0
    assert piped.stderr == "mlserve: 20000 rows read, 20000 written\n"  # no bar when piped


def test_a_text_model_takes_one_text_per_line_remote_equal_to_local(
    live_server: str, sample_manifest: Path, tmp_path: Path
) -> None:
    from sample_models.sentiment import EVERYDAY

    texts = tmp_path / "reviews.txt"  # commas stay in the text: a line is a text
    texts.write_text("\n".join(text for text, _ in EVERYDAY) + "\n\n")
    args = ("batch", "--model", "sentiment", "--input", str(texts), "--chunk-size", "5")
    remote = run_cli(*args, "--url", live_server)
    local = run_cli(*args, "--local", "--manifest", str(sample_manifest))
    assert remote.code == 0, remote.stderr
    out = lines(remote.stdout)
    assert [r["text"] for r in out] == [text for text, _ in EVERYDAY]
    assert [r["prediction"] for r in out] == [label for _, label in EVERYDAY]
    assert [r["prediction"] for r in lines(local.stdout)] == [r["prediction"] for r in out]
    one = run_cli("classify", EVERYDAY[1][0], "--model", "sentiment", "--url", live_server)
    assert json.loads(one.stdout)["prediction"] == out[1]["prediction"]


def test_a_text_model_reads_a_csv_column_and_json_lines(live_server: str, tmp_path: Path) -> None:
    table = tmp_path / "reviews.csv"
    table.write_text('id,text\n1,I loved this film\n2,"Terrible, a waste of time."\n')
    objects = tmp_path / "reviews.jsonl"
    objects.write_text('{"text": "I loved this film"}\n"Terrible, a waste of time."\n')
    for path in (table, objects):
        result = run_cli("batch", "-m", "sentiment", "-i", str(path), "--url", live_server)
        assert result.code == 0, result.stderr
        assert [r["prediction"] for r in lines(result.stdout)] == ["positive", "negative"]


def test_a_text_cut_at_an_unquoted_delimiter_is_refused_at_its_line(
    live_server: str, tmp_path: Path
) -> None:
    table = tmp_path / "reviews.csv"
    out = tmp_path / "out.jsonl"
    table.write_text("text\nI loved this film\nTerrible, a waste of time.\n")
    args = ("batch", "-m", "sentiment", "-i", str(table), "--out", str(out))
    result = run_cli(*args, "--url", live_server)
    assert result.code == 1
    assert "line 3: 2 cells where line 1 has 1" in result.stderr
    assert [r["text"] for r in lines(out.read_text())] == ["I loved this film"]  # the prefix


def test_batch_refuses_what_its_model_cannot_take(live_server: str, tmp_path: Path) -> None:
    texts = tmp_path / "reviews.txt"
    texts.write_text("I loved this film\n")
    image = run_cli("batch", "-m", "digits", "-i", str(texts), "--url", live_server)
    assert image.code == 2
    assert "takes images" in image.stderr
    numbers = run_cli(
        "batch", "-m", "iris", "-i", str(texts), "--format", "text", "--url", live_server
    )
    assert numbers.code == 2
    assert "--format text is a text model's input" in numbers.stderr
