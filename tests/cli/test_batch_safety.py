"""`mlserve batch` never loses or corrupts a row (each case was a defect: an emptied input, a
first row taken for a header, 0 rows and exit 0, answered rows thrown away)."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.models import slow_classifier
from tests.support import ROOT, run_cli, write_manifest

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5], [4.6, 3.1, 1.5, 0.2]]


def csv_text(rows: list[list[float]], sep: str = ",") -> str:
    return "".join(sep.join(map(str, r)) + "\n" for r in rows)


def answered(path: Path) -> list[int]:
    return [json.loads(line)["row"] for line in path.read_text().splitlines()]


def test_an_output_that_is_the_input_is_refused(live_server: str, tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    source.write_text(csv_text(ROWS))
    link = tmp_path / "link.csv"
    link.symlink_to(source)
    for target in (source, link):
        result = run_cli("batch", "-i", str(source), "--out", str(target), "--url", live_server)
        assert result.code == 2
        assert "is the input file" in result.stderr
    assert source.read_text() == csv_text(ROWS)  # untouched


@pytest.mark.parametrize(
    ("name", "text", "rows"),
    [
        ("bom.csv", "\ufeff" + csv_text(ROWS), 4),  # Excel's "CSV UTF-8"
        ("one.tsv", csv_text(ROWS[:1], "\t"), 1),
        ("semi.csv", csv_text(ROWS[:1], ";"), 1),
        ("header.csv", "a,b,c,d\n" + csv_text(ROWS), 4),
        ("quoted.csv", '"5.1","3.5","1.4","0.2"\n', 1),
    ],
)
def test_real_world_files_keep_every_row(
    live_server: str, tmp_path: Path, name: str, text: str, rows: int
) -> None:
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    result = run_cli("batch", "-i", str(source), "--url", live_server)
    assert result.code == 0, result.stderr
    assert len(result.stdout.splitlines()) == rows
    assert result.stderr == f"mlserve: {rows} rows read, {rows} written\n"


def test_an_empty_cell_is_an_error_not_a_header(live_server: str, tmp_path: Path) -> None:
    """A pandas export with NaN in row 1: its first row was taken for a header and lost."""
    source = tmp_path / "nan.csv"
    source.write_text("5.1,,1.4,0.2\n" + csv_text(ROWS))
    result = run_cli("batch", "-i", str(source), "--url", live_server)
    assert result.code == 1
    assert "line 1, column 2: empty cell" in result.stderr
    named = tmp_path / "named.csv"
    named.write_text("age,income,credit_score\n42,52000,710\n30,,700\n")
    result = run_cli("batch", "-m", "credit", "-i", str(named), "--url", live_server)
    assert result.code == 1
    assert "line 3, column 2 (income): empty cell" in result.stderr
    assert len(result.stdout.splitlines()) == 1  # line 2 was answered first


def test_header_choices_are_explicit(live_server: str, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b,c\n" + csv_text(ROWS))
    result = run_cli("batch", "-i", str(wrong), "--url", live_server)
    assert result.code == 1
    assert "do not match" in result.stderr
    forced = run_cli("batch", "-i", str(wrong), "--header", "--url", live_server)
    assert "the header has 3 columns but line 2 has 4" in forced.stderr
    plain = tmp_path / "plain.csv"
    plain.write_text(csv_text(ROWS))
    no_header = run_cli("batch", "-i", str(plain), "--no-header", "--url", live_server)
    assert len(no_header.stdout.splitlines()) == 4


def test_zero_rows_is_an_error_unless_the_input_is_empty(live_server: str, tmp_path: Path) -> None:
    only_header = tmp_path / "header.csv"
    only_header.write_text("a,b,c,d\n")
    result = run_cli("batch", "-i", str(only_header), "--header", "--url", live_server)
    assert result.code == 1
    assert "a header and no rows" in result.stderr
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = run_cli("batch", "-i", str(empty), "--url", live_server)
    assert (result.code, result.stdout) == (0, "")
    assert result.stderr == "mlserve: 0 rows read, 0 written\n"


def test_a_bad_line_keeps_every_row_before_it_and_resume_finishes(
    live_server: str, tmp_path: Path
) -> None:
    rows = ROWS * 10  # 40 rows; line 23 is bad
    lines = csv_text(rows).splitlines(keepends=True)
    lines[22] = "5.1,oops,1.4,0.2\n"
    source, target = tmp_path / "rows.csv", tmp_path / "out.jsonl"
    source.write_text("".join(lines))
    args = ["batch", "-i", str(source), "--out", str(target), "--chunk-size", "7"]
    result = run_cli(*args, "--url", live_server)
    assert result.code == 1
    assert "line 23, column 2: 'oops' is not a number" in result.stderr
    assert f"22 rows written to {target}; resume with --resume" in result.stderr
    assert answered(target) == list(range(22))  # every row before the bad line, in order
    lines[22] = "5.1,3.5,1.4,0.2\n"
    source.write_text("".join(lines))
    resumed = run_cli(*args, "--resume", "--url", live_server)
    assert resumed.code == 0, resumed.stderr
    assert "18 written (after 22 kept by --resume)" in resumed.stderr
    assert answered(target) == list(range(40))
    clean = run_cli("batch", "-i", str(source), "--url", live_server)
    assert target.read_text() == clean.stdout  # the same answers as one clean run


def test_a_server_side_error_names_the_absolute_row_and_line(
    live_server: str, tmp_path: Path
) -> None:
    source, target = tmp_path / "credit.csv", tmp_path / "out.csv"
    body = "".join("42,52000,710\n" for _ in range(12)) + "12,52000,710\n" + "42,52000,710\n"
    source.write_text("age,income,credit_score\n" + body)
    result = run_cli(
        "batch",
        "-m",
        "credit",
        "-i",
        str(source),
        "--out",
        str(target),
        "--chunk-size",
        "5",
        "--url",
        live_server,
    )
    assert result.code == 1
    assert "row 12 (line 14)" in result.stderr  # age 12 is under the bound of 18
    assert "must be >= 18" in result.stderr
    written = target.read_text().splitlines()
    assert written[0].startswith("row,prediction,confidence")  # CSV, from the extension
    assert [int(line.split(",")[0]) for line in written[1:]] == list(range(12))


def test_parquet_in_and_out(live_server: str, tmp_path: Path) -> None:
    source, target = tmp_path / "rows.parquet", tmp_path / "out.parquet"
    table = pa.table(
        {"age": [42, 30, 65], "income": [52000.0, 1000.0, 80000.0], "credit_score": [710, 400, 800]}
    )
    pq.write_table(table.select(["credit_score", "age", "income"]), source)  # any column order
    result = run_cli(
        "batch", "-m", "credit", "-i", str(source), "--out", str(target), "--url", live_server
    )
    assert result.code == 0, result.stderr
    answers = pq.read_table(target).to_pylist()
    assert [a["row"] for a in answers] == [0, 1, 2]
    single = run_cli(
        "predict",
        "-m",
        "credit",
        "--json",
        '{"age": 30, "income": 1000, "credit_score": 400}',
        "--url",
        live_server,
    )
    assert answers[1]["prediction"] == json.loads(single.stdout)["prediction"]


def test_ctrl_c_keeps_a_gap_free_prefix_and_resume_completes(
    tmp_path: Path, serve_manifest: Callable[..., str]
) -> None:
    # 20 ms a model call, 400 calls: the batch is still running when Ctrl-C comes, however
    # fast the machine (on the sample server it once finished first).
    slow_classifier(str(tmp_path / "slow.joblib"), seconds=0.02)
    live_server = serve_manifest(
        write_manifest(tmp_path, "models:\n  - {name: iris, runtime: sklearn, path: slow.joblib}\n")
    )
    source, target = tmp_path / "rows.csv", tmp_path / "out.jsonl"
    source.write_text(csv_text(ROWS * 5000))  # 20,000 rows
    args = [
        sys.executable,
        "-m",
        "mlserve",
        "batch",
        "-i",
        str(source),
        "--out",
        str(target),
        "--chunk-size",
        "50",
        "--url",
        live_server,
    ]
    proc = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until answers are being written
        partial = [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
        if partial and partial[0].stat().st_size > 10_000:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "resume with --resume" in stderr
    kept = answered(target)
    assert kept == list(range(len(kept)))  # in order, no gap, no duplicate
    assert 0 < len(kept) < 20_000
    resumed = run_cli(
        "batch", "-i", str(source), "--out", str(target), "--resume", "--url", live_server
    )
    assert resumed.code == 0, resumed.stderr
    assert answered(target) == list(range(20_000))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert os.path.getsize(target) > 0


def test_answers_get_the_umasks_mode_and_a_failure_at_row_0_suggests_no_resume(
    live_server: str, tmp_path: Path
) -> None:
    """Answers were always 0600 (mkstemp's mode), and `--resume` was suggested when there
    was nothing to resume."""
    source, target = tmp_path / "rows.csv", tmp_path / "out.jsonl"
    source.write_text(csv_text(ROWS))
    previous = os.umask(0o022)
    try:
        result = run_cli("batch", "-i", str(source), "--out", str(target), "--url", live_server)
    finally:
        os.umask(previous)
    assert result.code == 0, result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    bad, nothing = tmp_path / "bad.csv", tmp_path / "nothing.jsonl"
    bad.write_text("5.1,oops,1.4,0.2\n")
    failed = run_cli("batch", "-i", str(bad), "--out", str(nothing), "--url", live_server)
    assert failed.code == 1
    assert "0 rows written" in failed.stderr
    assert "--resume" not in failed.stderr


@pytest.mark.parametrize("out", ["answers.csv", "answers.parquet", "answers.jsonl", "-"])
def test_a_bad_first_row_is_its_error_and_leaves_no_partial_file(
    live_server: str, tmp_path: Path, out: str
) -> None:
    """CSV output took the refused first chunk's empty answer for a bug (IndexError) and
    left `.answers.csv.*.partial` behind (issue 34)."""
    bad = tmp_path / "bad.csv"
    bad.write_text("5.1,3.5,abc,0.2\n" + csv_text(ROWS))
    target = out if out == "-" else str(tmp_path / out)
    fmt = ["-o", "csv"] if out == "-" else []
    result = run_cli("batch", "-i", str(bad), "--out", target, *fmt, "--url", live_server)
    assert result.code == 1, result.stderr
    assert "line 1, column 3: 'abc' is not a number" in result.stderr
    assert "bug" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_an_out_file_in_a_missing_or_unwritable_folder_is_a_usage_error(
    live_server: str, tmp_path: Path
) -> None:
    source = tmp_path / "rows.csv"
    source.write_text(csv_text(ROWS))
    missing = run_cli(
        "batch", "-i", str(source), "--out", str(tmp_path / "nodir" / "x.csv"), "--url", live_server
    )
    assert missing.code == 2, missing.stderr
    assert "does not exist" in missing.stderr
    assert "bug" not in missing.stderr
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if os.access(locked, os.W_OK):  # root writes anywhere: a file stands where a folder should
        locked.rmdir()
        locked.write_text("")
    refused = run_cli(
        "batch", "-i", str(source), "--out", str(locked / "x.csv"), "--url", live_server
    )
    assert refused.code == 2, refused.stderr
    assert "bug" not in refused.stderr


HOSTILE = ["=cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "+1+cmd", "-2+3"]


@pytest.fixture
def hostile_labels(tmp_path: Path) -> Path:
    """Iris with its classes renamed to formulas a spreadsheet would run, and -1 (a number)."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, classes = load_iris(return_X_y=True)
    names = np.array([HOSTILE[0], HOSTILE[1], "-1"])[classes]
    joblib.dump(LogisticRegression(max_iter=500).fit(features, names), tmp_path / "m.joblib")
    return write_manifest(tmp_path, "models:\n  - {name: m, runtime: sklearn, path: m.joblib}\n")


def test_csv_output_escapes_labels_that_would_run_as_formulas(
    hostile_labels: Path, tmp_path: Path
) -> None:
    """A label `=cmd|' /C calc'!A0` was written as it is: a spreadsheet opening the CSV runs
    it (issue 34). Escaped by default with a leading ', as spreadsheets read text."""
    source = tmp_path / "rows.csv"
    source.write_text(csv_text([[5.1, 3.5, 1.4, 0.2], [6.0, 2.7, 4.2, 1.3], [7.7, 3.0, 6.1, 2.3]]))
    common = ("-i", str(source), "-o", "csv", "--local", "--manifest", str(hostile_labels))
    escaped = run_cli("batch", *common)
    assert escaped.code == 0, escaped.stderr
    parsed = list(csv.reader(io.StringIO(escaped.stdout)))
    assert [row[1] for row in parsed[1:]] == ["'" + HOSTILE[0], "'" + HOSTILE[1], "-1"]
    assert all(not c.startswith(("=", "@", "+")) for row in parsed for c in row)
    kept = run_cli("batch", *common, "--keep-formulas")
    assert kept.code == 0, kept.stderr
    assert [r[1] for r in list(csv.reader(io.StringIO(kept.stdout)))[1:]] == [*HOSTILE[:2], "-1"]


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        *((h, "'" + h) for h in HOSTILE),
        ("\tcmd", "'\tcmd"),
        ("\r=x", "'\r=x"),
        ("-1", "-1"),
        ("+2.5e3", "+2.5e3"),
        ("-.5", "-.5"),
        ("setosa", "setosa"),
        (-3.5, -3.5),
    ],
)
def test_spreadsheet_safe_cells(cell: object, written: object) -> None:
    from mlserve.cli.batchio.writers import spreadsheet_safe

    assert spreadsheet_safe(cell) == written
