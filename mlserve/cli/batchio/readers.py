"""Batch input, streamed: CSV/TSV, JSON lines, .npy and Parquet, in chunks of rows that know
their absolute row and line numbers, so a file of millions of rows runs in bounded memory and
every error names the line a user can open.

A bad line ends the input *after* the rows before it: the last chunk carries the error, so the
caller answers and writes those rows first, and the output stays a prefix of the input.
"""

from __future__ import annotations

import csv
import io
import itertools
import operator
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from mlserve.errors import InputError, MlserveError, UsageError

InputFormat = Literal["csv", "jsonl", "npy", "parquet", "text"]  # text: a text model's lines
EXTENSIONS: dict[str, InputFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".npy": "npy",
    ".parquet": "parquet",
}
Row = tuple[Any, int]  # a row's values and its line number (1-based; Parquet/.npy: row + 1)


@dataclass
class Chunk:
    """Consecutive input rows. `start` is the absolute index of the first (0-based); `error`,
    on the last chunk only, is the bad line that ended the input after these rows."""

    start: int
    rows: Any = field(default_factory=list)  # lists, or a float64 matrix of numeric rows
    lines: list[int] = field(default_factory=list)
    columns: list[str] | None = None
    bytes_read: int = 0
    error: MlserveError | None = None

    def payload(self, stop: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"inputs": self.rows[:stop]}
        if self.columns is not None:
            body["columns"] = self.columns
        return body

    def where(self, index: int) -> str:
        """`row N (line L)` for the chunk's index-th row, in absolute numbers."""
        return f"row {self.start + index} (line {self.lines[index]})"


@dataclass
class CsvOptions:
    delimiter: str | None = None  # None: tab for .tsv, else the first of , ; tab on line 1
    header: bool | None = None  # None: line 1 is a header if every cell is a non-number


def input_format(source: str, given: InputFormat | None) -> InputFormat:
    if given is not None:
        return given
    return EXTENSIONS.get(Path(source).suffix.lower(), "csv")


def read_chunks(
    source: str,
    fmt: InputFormat | None,
    chunk_size: int,
    csv_options: CsvOptions | None = None,
    skip: int = 0,
) -> Iterator[Chunk]:
    """Chunks of rows from a file or '-' (stdin), after skipping the first `skip` rows."""
    fmt = input_format(source, fmt) if source != "-" or fmt else None
    if fmt == "text":
        raise UsageError("--format text is a text model's input; this model takes rows of numbers")
    if fmt in ("npy", "parquet"):
        if source == "-":
            raise UsageError(f"{fmt} input must be a file, not stdin")
        if fmt == "npy":
            yield from _npy_chunks(source, chunk_size, skip)
            return
        yield from chunked(_parquet_rows(source), chunk_size, skip)
        return
    stream: IO[str] = (
        stdin_text() if source == "-" else open(source, encoding="utf-8-sig", newline="")  # noqa: SIM115
    )
    with stream:
        first = stream.readline()
        fmt = fmt or ("jsonl" if first.lstrip()[:1] in ("[", "{") else "csv")
        counter = LineCounter(stream, len(first.encode()))
        if fmt == "jsonl":
            rows = (Columns(), _jsonl_rows(first, counter))
            yield from chunked(rows, chunk_size, skip, counter)
        else:
            options = csv_options or CsvOptions()
            yield from _csv_chunks(first, counter, source, options, chunk_size, skip)


def stdin_text() -> IO[str]:
    """Standard input as text, a byte-order mark dropped, newlines as they are; closing it
    leaves stdin itself open."""

    class Borrowed(io.TextIOWrapper):
        returned = False

        def close(self) -> None:
            if not self.returned:
                self.returned = True
                self.detach()

    return Borrowed(sys.stdin.buffer, encoding="utf-8-sig", newline="")


class LineCounter:
    """The lines after the first, counting bytes read for the progress bar."""

    def __init__(self, stream: IO[str], first_bytes: int) -> None:
        self.stream = stream
        self.bytes_read = first_bytes

    def __iter__(self) -> Iterator[str]:
        for line in self.stream:
            self.bytes_read += len(line) if line.isascii() else len(line.encode())
            yield line

    def block(self, size: int) -> list[str]:
        """Up to `size` lines, read in one go."""
        lines = list(itertools.islice(self.stream, size))
        text = "".join(lines)
        self.bytes_read += len(text) if text.isascii() else len(text.encode())
        return lines


@dataclass
class Columns:
    """What the rows' columns are called (a header, or Parquet's schema)."""

    names: list[str] | None = None


def chunked(
    rows: tuple[Columns, Iterator[Row]], size: int, skip: int, counter: LineCounter | None = None
) -> Iterator[Chunk]:
    names, iterator = rows
    chunk = Chunk(skip)
    index = 0
    try:
        for values, line in iterator:
            index += 1
            if index <= skip:
                continue
            chunk.rows.append(values)
            chunk.lines.append(line)
            if len(chunk.rows) >= size:
                chunk.columns = names.names
                chunk.bytes_read = counter.bytes_read if counter else 0
                yield chunk
                chunk = Chunk(index)
    except MlserveError as exc:
        if index < skip:
            raise
        chunk.error = exc  # answer the rows before the bad line first
    chunk.columns = names.names
    chunk.bytes_read = counter.bytes_read if counter else 0
    if chunk.rows or chunk.error is not None:
        yield chunk


def _jsonl_rows(first: str, rest: LineCounter) -> Iterator[Row]:
    for line_no, line in enumerate(all_lines(first, rest), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"line {line_no}: not valid JSON ({exc})") from None
        if isinstance(value, dict) and "features" in value:
            value = value["features"]
        yield value, line_no


def all_lines(first: str, rest: LineCounter) -> Iterator[str]:
    if first:
        yield first
    yield from rest


class _CsvLines:
    """One delimiter's view of CSV lines: cells, blank lines, and chunks of numbers.

    A chunk of plain numbers is parsed by numpy's C reader in one call, instead of `csv` and
    `float` cell by cell, which dominated `mlserve batch`. numpy's matrix is used
    only when it read every line into the expected columns; otherwise the same lines are
    parsed cell by cell, as they always were, and the first bad one names its line and column.
    Each line is one record: a quoted field cannot span lines (it is not a number anyway)."""

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter
        self._blank = delimiter + " \t\r\n"

    def cells(self, line: str) -> list[str]:
        if '"' in line:
            return next(csv.reader([line], delimiter=self.delimiter), [])
        return line.rstrip("\r\n").split(self.delimiter)

    def is_blank(self, line: str) -> bool:
        """Every cell empty (such lines are skipped, wherever they are)."""
        if '"' in line:
            return all(not c.strip() for c in self.cells(line))
        return not line.strip(self._blank)

    def numbered(self, block: list[str], first: int) -> list[tuple[int, str]]:
        """The block's lines that are not blank, with their line numbers. In the common case
        (no blank line, no quote) that is every line, found without a Python step per line."""
        stripped = map(str.strip, block, itertools.repeat(self._blank))
        if "" in stripped or any(map(operator.contains, block, itertools.repeat('"'))):
            return [(first + i, line) for i, line in enumerate(block) if not self.is_blank(line)]
        return list(zip(range(first, first + len(block)), block, strict=True))

    def rows(
        self, lines: list[str], numbers: list[int], names: list[str] | None
    ) -> tuple[Any, MlserveError | None]:
        """A float64 matrix of the lines, or their rows as lists up to the first bad line
        (returned as the error)."""
        width = len(names) if names is not None else None
        matrix = self._as_json(lines)
        if matrix is None:
            matrix = self._by_numpy(lines)
        if matrix is not None and len(matrix) == len(lines) and width in (None, matrix.shape[1]):
            return matrix, None
        rows: list[list[float]] = []
        for line, number in zip(lines, numbers, strict=True):
            try:
                rows.append(_numbers(self.cells(line), number, names, self.delimiter))
            except MlserveError as exc:
                return rows, exc
        return rows, None

    def _as_json(self, lines: list[str]) -> Any:
        """Lines of plain numbers read as one JSON array by orjson (the quickest reader at
        hand): a JSON number is a Python float literal of the same value, and anything JSON
        does not take (NaN, "+1", "1.", an empty cell, a ragged row) is left to the others.
        JSON's words (true, false, null), strings, objects and arrays are no numbers: any
        t, f, n, quote or bracket leaves the lines to the others too. JSON reads `-0` as
        the integer 0 where float("-0") is -0.0: each zero's own cell is checked."""
        import numpy as np

        raw = "".join(lines)
        if any(c in raw for c in 'tfn"{[]') or (self.delimiter != "," and "," in raw):
            return None  # (a decimal comma would become a column)
        text = "],[".join(lines)
        if self.delimiter != ",":
            text = text.replace(self.delimiter, ",")
        try:
            matrix = np.array(orjson.loads("[[" + text + "]]"), dtype=np.float64)
        except (orjson.JSONDecodeError, ValueError, TypeError):
            return None
        if matrix.ndim == 2 and "-0" in raw and not matrix.all():
            self._sign_zeros(matrix, lines)
        return matrix

    def _sign_zeros(self, matrix: Any, lines: list[str]) -> None:
        """Zeros written with a minus sign become -0.0, as float() reads them."""
        import numpy as np

        cells: dict[int, list[str]] = {}
        for row, column in np.argwhere(matrix == 0).tolist():
            if row not in cells:
                cells[row] = lines[row].split(self.delimiter)
            if cells[row][column].lstrip().startswith("-"):
                matrix[row, column] = -0.0

    def _by_numpy(self, lines: list[str]) -> Any:
        import numpy as np

        try:
            return np.loadtxt(
                lines, delimiter=self.delimiter, dtype=np.float64, comments=None, ndmin=2
            )
        except ValueError:
            return None


def _csv_chunks(
    first: str, rest: LineCounter, source: str, options: CsvOptions, size: int, skip: int
) -> Iterator[Chunk]:
    """Chunks of a CSV file's rows after `skip` rows: a header (if line 1 is one) names the
    columns; blank lines are skipped; a bad line ends the input after the rows before it.
    Lines are read a block at a time: no Python step per line beyond the blank-line check."""
    parser = _CsvLines(options.delimiter or guess_delimiter(first, source))
    names: list[str] | None = None
    header: tuple[list[str], int] | None = None
    decided, index = False, 0  # index: data rows seen, skipped ones included
    lines: list[str] = []  # data lines not yet in a chunk, and their line numbers
    numbers: list[int] = []

    def chunk(count: int, error: MlserveError | None = None) -> Chunk:
        nonlocal lines, numbers
        taken, lines = lines[:count], lines[count:]
        at, numbers = numbers[:count], numbers[count:]
        rows, bad = parser.rows(taken, at, names) if taken else ([], None)
        found = Chunk(index - len(lines) - len(taken), rows, at[: len(rows)], names)
        found.bytes_read, found.error = rest.bytes_read, bad or error
        return found

    try:
        for base, block in _line_blocks(first, rest, size):
            kept = parser.numbered(block, base)
            at = 0
            while at < len(kept) and (not decided or header is not None):
                number, line = kept[at]
                if not decided:
                    decided = True
                    cells = parser.cells(line)
                    if _is_header(cells, options):
                        header, at = (cells, number), at + 1
                        continue
                if header is not None:
                    names, header = _header(*header, parser.cells(line), number, options), None
            data = kept[at + max(0, min(skip - index, len(kept) - at)) :]
            index += len(kept) - at
            numbers.extend(number for number, _ in data)
            lines.extend(line for _, line in data)
            while len(lines) >= size:
                found = chunk(size)
                yield found
                if found.error is not None:
                    return
        if header is not None:  # a lone line of words
            raise InputError(f"line {header[1]}: a header and no rows after it")
    except MlserveError as exc:
        if index < skip:
            raise
        yield chunk(len(lines), exc)
        return
    if lines:
        yield chunk(len(lines))


def _line_blocks(first: str, rest: LineCounter, size: int) -> Iterator[tuple[int, list[str]]]:
    """(the first line's number, lines) for line 1, then blocks of up to `size` lines."""
    number = 1
    if first:
        yield number, [first]
        number += 1
    while block := rest.block(size):
        yield number, block
        number += len(block)


def guess_delimiter(first: str, source: str) -> str:
    if Path(source).suffix.lower() == ".tsv":
        return "\t"
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _is_header(cells: list[str], options: CsvOptions) -> bool:
    if options.header is not None:
        return options.header
    return all(c.strip() and not _is_number(c) for c in cells)


def _header(
    names: list[str], line: int, first_row: list[str], row_line: int, options: CsvOptions
) -> list[str] | None:
    if len(names) == len(first_row):
        return [n.strip() for n in names]
    if options.header:
        raise InputError(
            f"line {line}: the header has {len(names)} columns but line {row_line} has "
            f"{len(first_row)}"
        )
    raise InputError(
        f"line {line}: {names[0]!r} is not a number, and as a header its {len(names)} columns "
        f"do not match the {len(first_row)} of line {row_line} (pass --header or --no-header)"
    )


def _numbers(cells: list[str], line: int, names: list[str] | None, delimiter: str) -> list[float]:
    if names is not None and len(cells) != len(names):
        raise InputError(f"line {line}: {len(cells)} values but the header names {len(names)}")
    values = []
    for column, cell in enumerate(cells, start=1):
        label = f"column {column}" + (f" ({names[column - 1]})" if names else "")
        if not cell.strip():
            raise InputError(f"line {line}, {label}: empty cell; every feature needs a value")
        try:
            values.append(float(cell))
        except ValueError:
            hint = next(
                (
                    f" (is the file {d!r}-separated? pass --delimiter)"
                    for d in ";\t,"
                    if d in cell and d != delimiter
                ),
                "",
            )
            raise InputError(
                f"line {line}, {label}: {cell.strip()!r} is not a number{hint}"
            ) from None
    return values


def _npy_chunks(source: str, size: int, skip: int) -> Iterator[Chunk]:
    """A 2-D .npy array, memory-mapped, a slice per chunk: numeric ones as float64 matrices
    (sent as binary tensors), others as lists (the server says what is wrong with them)."""
    import numpy as np

    try:
        array = np.load(source, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{source}: not a readable .npy array ({exc})") from None
    if array.ndim != 2:
        raise InputError(f"{source}: expected a 2-D array of rows, got shape {array.shape}")
    numeric = array.dtype.kind in "biuf"
    for start in range(skip, len(array), size):
        block = array[start : start + size]
        rows = np.asarray(block, dtype=np.float64) if numeric else block.tolist()
        yield Chunk(start, rows, list(range(start + 1, start + len(block) + 1)))


def _parquet_rows(source: str) -> tuple[Columns, Iterator[Row]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError("Parquet needs pyarrow: pip install 'mlserve[parquet]'") from None
    try:
        file = pq.ParquetFile(source)
    except Exception as exc:  # pyarrow raises its own error types
        raise InputError(f"{source}: not a readable Parquet file ({exc})") from None
    columns = Columns([field.name for field in file.schema_arrow])

    def rows() -> Iterator[Row]:
        number = 0
        for batch in file.iter_batches(batch_size=4096):
            for record in batch.to_pylist():
                number += 1
                values = list(record.values())
                missing = [k for k, v in record.items() if v is None]
                if missing:
                    raise InputError(f"row {number - 1}: column {missing[0]!r} is empty (null)")
                yield values, number

    return columns, rows()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
