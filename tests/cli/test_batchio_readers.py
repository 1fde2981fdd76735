"""CSV chunks: numpy reads plain numbers a chunk at a time, and gives exactly what Python's
`float` cell by cell gives; anything numpy does not read takes the cell-by-cell path, whose
errors name the line and the column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlserve.cli.batchio.readers import Chunk, CsvOptions, read_chunks

pytestmark = pytest.mark.unit


def chunks(
    tmp_path: Path, text: str, size: int = 3, skip: int = 0, delimiter: str | None = None
) -> list[Chunk]:
    path = tmp_path / "rows.csv"
    path.write_bytes(text.encode())
    return list(read_chunks(str(path), None, size, CsvOptions(delimiter), skip=skip))


def values(found: list[Chunk]) -> list[list[float]]:
    return [list(map(float, row)) for c in found for row in np.asarray(c.rows).tolist()]


@pytest.mark.parametrize(
    "cells",
    [
        ["1.5", " 2 ", "+3", "-.5"],  # spaces and signs
        ["1e5", "1E-05", "5.", "0.1000000000000000055511151231257827"],
        ["1_000", "2", "3", "4"],  # float() reads underscores; numpy does not
        ['"1.5"', "2", "3", "4"],  # a quoted number
        ["٣", "2", "3", "4"],  # a non-ASCII digit: float() reads it
        ["-0", "-0.0", "0", "1e-0"],  # minus zero stays minus zero
        ["12345678901234567890123", "9007199254740993", "1e309", "-1e-400"],
        ["nan", "inf", "-Infinity", "NaN"],
    ],
)
def test_every_number_reads_as_float_reads_it(tmp_path: Path, cells: list[str]) -> None:
    text = "\n".join([",".join(cells)] * 5) + "\n"
    expected = [float(c.strip('"')) for c in cells]
    found = values(chunks(tmp_path, text))
    assert np.array_equal(found, [expected] * 5, equal_nan=True)
    assert np.array_equal(np.signbit(found), np.signbit([expected] * 5))


@pytest.mark.parametrize(("word", "column"), [("true", 1), ("null", 2), ("false", 1)])
def test_json_words_are_not_numbers(tmp_path: Path, word: str, column: int) -> None:
    cells = ["1", "2"]
    cells[column - 1] = word
    found = chunks(tmp_path, "1,2\n" + ",".join(cells) + "\n")
    assert values(found) == [[1, 2]]
    assert f"line 2, column {column}: {word!r} is not a number" in str(found[-1].error)


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters_and_decimal_commas(tmp_path: Path, delimiter: str) -> None:
    found = chunks(tmp_path, f"1.5{delimiter}2\n3{delimiter}4\n", delimiter=delimiter)
    assert values(found) == [[1.5, 2], [3, 4]]
    comma = chunks(tmp_path, f"1,5{delimiter}2\n3{delimiter}4\n", delimiter=delimiter)
    assert "'1,5' is not a number" in str(comma[-1].error)


def test_blank_lines_and_windows_line_ends(tmp_path: Path) -> None:
    text = "1,2\r\n\r\n , \r\n3,4\r\n,,\r\n5,6\r\n"
    found = chunks(tmp_path, text, size=2)
    assert values(found) == [[1, 2], [3, 4], [5, 6]]
    assert [c.lines for c in found] == [[1, 4], [6]]
    assert [c.start for c in found] == [0, 2]


def test_a_header_names_the_columns_and_skip_counts_data_rows(tmp_path: Path) -> None:
    text = "a,b\n1,2\n3,4\n5,6\n"
    found = chunks(tmp_path, text, size=10, skip=1)
    assert [c.columns for c in found] == [["a", "b"]]
    assert values(found) == [[3, 4], [5, 6]]
    assert found[0].start == 1
    assert found[0].lines == [3, 4]


def test_chunks_are_matrices_when_numpy_reads_them(tmp_path: Path) -> None:
    found = chunks(tmp_path, "".join(f"{i},{i + 0.5}\n" for i in range(7)))
    assert [type(c.rows) for c in found] == [np.ndarray] * 3
    assert [len(c.rows) for c in found] == [3, 3, 1]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("1,x", "line 5, column 2: 'x' is not a number"),
        ("1,", "line 5, column 2: empty cell"),
        ("1;2", "line 5, column 1: '1;2' is not a number (is the file ';'-separated?"),
    ],
)
def test_a_bad_cell_ends_the_input_after_the_rows_before_it(
    tmp_path: Path, bad: str, message: str
) -> None:
    text = "1,2\n3,4\n5,6\n7,8\n" + bad + "\n9,10\n"
    found = chunks(tmp_path, text)
    assert values(found) == [[1, 2], [3, 4], [5, 6], [7, 8]]
    assert found[-1].error is not None
    assert message in str(found[-1].error)
    assert all(c.error is None for c in found[:-1])


def test_rows_of_another_width_than_the_header(tmp_path: Path) -> None:
    found = chunks(tmp_path, "a,b\n1,2\n1,2,3\n")
    assert values(found) == [[1, 2]]
    assert "line 3: 3 values but the header names 2" in str(found[-1].error)
