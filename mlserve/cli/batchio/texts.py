"""Batch input for a text model: one text per row, from plain lines, CSV or JSON lines, in
the same numbered chunks as numeric rows (so errors and `--resume` work alike).

- text lines (`.txt`, or `--format text`): each line is one text, as written (a comma is
  part of the text); blank lines are skipped.
- CSV/TSV: the column named `text`, or the only column; line 1 is a header when it names a
  `text` column (or when `--header` says so).
- JSON lines: each line a JSON string, or an object with a "text" string.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import orjson

from mlserve.cli.batchio.readers import (
    Chunk,
    Columns,
    CsvOptions,
    InputFormat,
    LineCounter,
    Row,
    all_lines,
    chunked,
    guess_delimiter,
    input_format,
    stdin_text,
)
from mlserve.errors import InputError, UsageError

TEXT_COLUMN = "text"


def text_format(source: str, given: InputFormat | None, first: str) -> InputFormat:
    """The format of a text model's input: as given, else by extension (`.txt` is text
    lines), else text lines unless line 1 starts like JSON."""
    if given is None and source != "-" and Path(source).suffix.lower() == ".txt":
        return "text"
    fmt = given or (input_format(source, None) if source != "-" else None)
    if fmt in ("npy", "parquet"):
        raise UsageError(
            f"a text model reads text lines (.txt), CSV or JSON lines, not {fmt}: "
            "export the texts as one per line"
        )
    if fmt is None:
        return "jsonl" if first.lstrip()[:1] in ('"', "{") else "text"
    return fmt


def read_texts(
    source: str,
    given: InputFormat | None,
    chunk_size: int,
    csv_options: CsvOptions | None = None,
    skip: int = 0,
) -> Iterator[Chunk]:
    """Chunks of texts from a file or '-' (stdin), after skipping the first `skip` texts."""
    stream: IO[str] = (
        stdin_text() if source == "-" else open(source, encoding="utf-8-sig", newline="")  # noqa: SIM115
    )
    with stream:
        first = stream.readline()
        fmt = text_format(source, given, first)
        counter = LineCounter(stream, len(first.encode()))
        if fmt == "jsonl":
            rows = _jsonl_texts(first, counter)
        elif fmt == "csv":
            rows = _csv_texts(first, counter, source, csv_options or CsvOptions())
        else:
            rows = _line_texts(first, counter)
        yield from chunked((Columns(), rows), chunk_size, skip, counter)


def _line_texts(first: str, rest: LineCounter) -> Iterator[Row]:
    for number, line in enumerate(all_lines(first, rest), start=1):
        text = line.rstrip("\r\n")
        if text.strip():
            yield text, number


def _jsonl_texts(first: str, rest: LineCounter) -> Iterator[Row]:
    for number, line in enumerate(all_lines(first, rest), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"line {number}: not valid JSON ({exc})") from None
        if isinstance(value, dict):
            value = value.get(TEXT_COLUMN)
        if not isinstance(value, str):
            raise InputError(
                f'line {number}: expected a JSON string or an object with a "text" string'
            )
        yield value, number


def _csv_texts(first: str, rest: LineCounter, source: str, options: CsvOptions) -> Iterator[Row]:
    delimiter = options.delimiter or guess_delimiter(first, source)
    reader = csv.reader(all_lines(first, rest), delimiter=delimiter)
    column: int | None = None
    width = first_line = 0
    for cells in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if column is None:
            column, is_header = _text_column(cells, options, number)
            width, first_line = len(cells), number
            if is_header:
                continue
        if len(cells) != width:  # never a text cut at an unquoted delimiter
            raise InputError(
                f"line {number}: {len(cells)} cells where line {first_line} has {width}; "
                f'quote a text that holds the delimiter {delimiter!r} ("a, b"), or use one '
                "text per line (.txt)"
            )
        yield cells[column], number


def _text_column(cells: list[str], options: CsvOptions, number: int) -> tuple[int, bool]:
    """Which column holds the texts, and whether line `number` (the first) is a header."""
    names = [cell.strip().lower() for cell in cells]
    header = options.header if options.header is not None else TEXT_COLUMN in names
    if header and TEXT_COLUMN in names:
        return names.index(TEXT_COLUMN), True
    if len(cells) == 1:
        return 0, bool(header)
    raise InputError(
        f"line {number}: {len(cells)} columns and none named {TEXT_COLUMN!r}: name the texts' "
        "column 'text' in a header line, or give one text per line"
    )
