"""Property: for any CSV/TSV/JSON lines file (random sizes, empty cells, BOM, quoting, header
or not, a bad line anywhere) and an interruption at any point, `mlserve batch` either answers
every row exactly once, in order, and exits 0, or exits non-zero leaving a gap-free prefix of
the input. It never exits 0 with fewer rows.

Runs the real command in-process (Typer's runner, against the real sample server) so that
hypothesis can try many files; Ctrl-C is simulated by raising KeyboardInterrupt after a random
number of chunk writes."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mlserve.cli import app
from mlserve.cli.batchio.writers import OutputFile

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
values = st.floats(0.1, 8.0, allow_nan=False).map(lambda x: round(x, 2))


@dataclass
class BatchFile:
    name: str
    text: str
    rows: int
    bad_at: int | None  # the first bad row (0-based), if any
    header_only: bool  # a header and no rows: an error, not an empty success
    chunk_size: int
    interrupt_after: int | None  # chunk writes before a simulated Ctrl-C


@st.composite
def batch_files(draw: Any) -> BatchFile:
    fmt = draw(st.sampled_from(["csv", "tsv", "jsonl"]))
    rows = draw(st.lists(st.lists(values, min_size=4, max_size=4), max_size=30))
    bad_at = draw(st.none() | st.integers(0, len(rows) - 1)) if rows else None
    bad_kind = draw(st.sampled_from(["empty", "word", "width"]))
    header = False
    if fmt == "jsonl":
        lines = [json.dumps(r) for r in rows]
        if bad_at is not None:
            lines[bad_at] = {
                "empty": "[5.1,,1.4]",
                "word": '[5.1, "x", 1.4, 0.2]',
                "width": "[5.1, 3.5, 1.4]",
            }[bad_kind]
        text = "".join(line + "\n" for line in lines)
    else:
        out = io.StringIO()
        quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
        writer = csv.writer(
            out, delimiter="\t" if fmt == "tsv" else ",", quoting=quoting, lineterminator="\n"
        )
        header = draw(st.booleans())
        if header:
            writer.writerow(["sepal_l", "sepal_w", "petal_l", "petal_w"])
        cells: list[list[Any]] = [list(r) for r in rows]
        if bad_at is not None:
            bad_rows: dict[str, list[Any]] = {
                "empty": [5.1, "", 1.4, 0.2],
                "word": [5.1, "x", 1.4, 0.2],
                "width": [5.1, 3.5, 1.4],
            }
            cells[bad_at] = bad_rows[bad_kind]
        writer.writerows(cells)
        text = ("\ufeff" if draw(st.booleans()) else "") + out.getvalue()
    return BatchFile(
        f"rows.{fmt}",
        text,
        len(rows),
        bad_at,
        fmt != "jsonl" and header and not rows,
        draw(st.integers(1, 8)),
        draw(st.none() | st.integers(0, 4)),
    )


def run_batch(
    url: str, case: BatchFile, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, list[int] | None]:
    source, target = folder / case.name, folder / "out.jsonl"
    source.write_text(case.text, encoding="utf-8")
    target.unlink(missing_ok=True)
    writes = 0
    real_write = OutputFile.write

    def write(self: OutputFile, start: int, predictions: list[dict[str, Any]]) -> None:
        nonlocal writes
        if case.interrupt_after is not None and writes >= case.interrupt_after:
            raise KeyboardInterrupt
        writes += 1
        real_write(self, start, predictions)

    monkeypatch.setattr(OutputFile, "write", write)
    result = CliRunner().invoke(
        app,
        [
            "batch",
            "-i",
            str(source),
            "--out",
            str(target),
            "--chunk-size",
            str(case.chunk_size),
            "--url",
            url,
            "--quiet",
        ],
    )
    assert "Traceback" not in result.output
    rows = (
        [json.loads(line)["row"] for line in target.read_text().splitlines()]
        if target.exists()
        else None
    )
    return result.exit_code, rows


def test_every_row_once_in_order_or_a_gap_free_prefix(
    live_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tempfile.TemporaryDirectory() as folder:

        @given(case=batch_files())
        @settings(
            max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case: BatchFile) -> None:
            with monkeypatch.context() as patch:
                code, rows = run_batch(live_server, case, Path(folder), patch)
            if code == 0:
                assert case.bad_at is None, "exit 0 despite a bad line"
                assert not case.header_only, "exit 0 on a header without rows"
                assert (rows or []) == list(range(case.rows))
                return
            assert rows is None or rows == list(range(len(rows)))  # a prefix: no gap, no duplicate
            if rows is not None and case.bad_at is not None:
                assert len(rows) <= case.bad_at
            if case.bad_at is None and case.interrupt_after is None and not case.header_only:
                pytest.fail(f"exit {code} on a good file")

        check()
