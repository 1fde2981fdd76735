"""Streamed batch input and output: CSV, JSON lines and .npy, chunk by chunk, so a file of
millions of rows runs in bounded memory."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from mlserve.errors import InputError

InputFormat = Literal["csv", "jsonl", "npy"]
_EXTENSIONS: dict[str, InputFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".npy": "npy",
}


@dataclass
class Chunk:
    """Consecutive input rows; `columns` holds the CSV header when there was one."""

    start: int
    rows: list[Any]
    columns: list[str] | None = None
    bytes_read: int = 0

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"inputs": self.rows}
        if self.columns is not None:
            body["columns"] = self.columns
        return body


@dataclass
class _Counter:
    stream: IO[str]
    bytes_read: int = 0

    def __iter__(self) -> Iterator[str]:
        for line in self.stream:
            self.bytes_read += len(line)
            yield line


def detect_format(source: str, first_line: str | None = None) -> InputFormat:
    fmt = _EXTENSIONS.get(Path(source).suffix.lower())
    if fmt is not None:
        return fmt
    return "jsonl" if (first_line or "").lstrip()[:1] in ("[", "{") else "csv"


def read_chunks(source: str, fmt: InputFormat | None, chunk_size: int) -> Iterator[Chunk]:
    """Yield chunks of rows from a file or '-' (stdin)."""
    if fmt == "npy" or (fmt is None and source.endswith(".npy")):
        yield from _npy_chunks(source, chunk_size)
        return
    stream: IO[str] = sys.stdin if source == "-" else open(source, encoding="utf-8", newline="")  # noqa: SIM115
    try:
        first = stream.readline()
        fmt = fmt or detect_format(source, first)
        counter = _Counter(stream, len(first))
        lines = _chain([first], counter)
        parser = _csv_rows(lines) if fmt == "csv" else _jsonl_rows(lines)
        yield from _chunked(parser, chunk_size, counter)
    finally:
        if stream is not sys.stdin:
            stream.close()


def _chain(head: list[str], rest: Iterable[str]) -> Iterator[str]:
    yield from (line for line in head if line)
    yield from rest


def _chunked(
    rows: Iterator[tuple[Any, list[str] | None]], size: int, counter: _Counter
) -> Iterator[Chunk]:
    chunk = Chunk(0, [])
    for index, (row, columns) in enumerate(rows, start=1):
        chunk.columns = columns
        chunk.rows.append(row)
        if len(chunk.rows) >= size:
            chunk.bytes_read = counter.bytes_read
            yield chunk
            chunk = Chunk(index, [], columns)
    if chunk.rows:
        chunk.bytes_read = counter.bytes_read
        yield chunk


def _csv_rows(lines: Iterator[str]) -> Iterator[tuple[list[float], list[str] | None]]:
    reader = csv.reader(lines)
    header: list[str] | None = None
    for line_no, cells in enumerate(reader, start=1):
        if not cells or all(not c.strip() for c in cells):
            continue
        if line_no == 1 and not all(_is_number(c) for c in cells):
            header = [c.strip() for c in cells]
            continue
        try:
            yield [float(c) for c in cells], header
        except ValueError:
            bad = next(c for c in cells if not _is_number(c))
            raise InputError(f"line {line_no}: {bad!r} is not a number") from None


def _jsonl_rows(lines: Iterator[str]) -> Iterator[tuple[Any, None]]:
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"line {line_no}: not valid JSON ({exc})") from None
        if isinstance(value, dict) and "features" in value:
            value = value["features"]
        yield value, None


def _npy_chunks(source: str, size: int) -> Iterator[Chunk]:
    import numpy as np

    try:
        array = np.load(
            sys.stdin.buffer if source == "-" else source,
            mmap_mode=None if source == "-" else "r",
            allow_pickle=False,
        )
    except (OSError, ValueError) as exc:
        raise InputError(f"{source}: not a readable .npy array ({exc})") from None
    if array.ndim != 2:
        raise InputError(f"{source}: expected a 2-D array of rows, got shape {array.shape}")
    for start in range(0, len(array), size):
        block = array[start : start + size]
        yield Chunk(
            start, block.tolist(), None, int(array.itemsize * array.shape[1] * (start + len(block)))
        )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class ResultWriter:
    """Predictions as JSON lines or CSV, one line per input row, in input order."""

    def __init__(self, stream: IO[bytes], fmt: Literal["jsonl", "csv"]) -> None:
        self.stream = stream
        self.fmt = fmt
        self._labels: list[str] | None = None

    def write(self, start: int, predictions: list[dict[str, Any]]) -> None:
        if self.fmt == "jsonl":
            self.stream.write(
                b"".join(
                    orjson.dumps({"row": start + i, **p}) + b"\n" for i, p in enumerate(predictions)
                )
            )
        else:
            self.stream.write(self._csv(start, predictions).encode())
        self.stream.flush()

    def _csv(self, start: int, predictions: list[dict[str, Any]]) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if self._labels is None:
            self._labels = list(predictions[0].get("probabilities") or {})
            confidence = ["confidence"] if predictions[0].get("confidence") is not None else []
            writer.writerow(["row", "prediction", *confidence, *(f"p_{x}" for x in self._labels)])
        for i, p in enumerate(predictions):
            extra = [p["confidence"]] if p.get("confidence") is not None else []
            probs = [p["probabilities"][label] for label in self._labels]
            writer.writerow([start + i, p["prediction"], *extra, *probs])
        return out.getvalue()
