"""Batch output: JSON lines, CSV or Parquet, written to a temporary file beside the output
and renamed into place, so the output file only ever holds whole rows, in input order.

`--resume` reads back an interrupted output, keeps its complete rows (checking that they are
rows 0..N-1), and continues after them.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Literal, Protocol

import orjson

from mlserve.errors import InputError, UsageError

OutputFormat = Literal["jsonl", "csv", "parquet"]
EXTENSIONS: dict[str, OutputFormat] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
}


def output_format(path: str, given: OutputFormat | None) -> OutputFormat:
    if given is not None:
        return given
    return EXTENSIONS.get(Path(path).suffix.lower(), "jsonl") if path != "-" else "jsonl"


class Writer(Protocol):
    def write(self, start: int, predictions: Sequence[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


class JsonlWriter:
    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream

    def write(self, start: int, predictions: Sequence[dict[str, Any]]) -> None:
        columns = getattr(predictions, "jsonl", None)  # V2 answers: lines from their columns
        if columns is not None:
            self.stream.write(columns(start))
            self.stream.flush()
            return
        line = orjson.OPT_APPEND_NEWLINE
        self.stream.write(
            b"".join(
                [
                    orjson.dumps({"row": start + i, **p}, option=line)
                    for i, p in enumerate(predictions)
                ]
            )
        )
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


# A cell a spreadsheet would run as a formula (`=cmd|' /C calc'!A0`, `@SUM(...)`; tab and CR
# start one in some tools): OWASP's CSV-injection rule. A plain number ("-1", "+2.5") is no
# formula and stays as it is, so numeric labels read back unchanged.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(cell: Any) -> Any:
    """The cell as a spreadsheet shows it but never runs it: a text that would start a
    formula gets a leading `'` (what Excel, LibreOffice and Sheets take as "text")."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_START) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


class CsvWriter:
    """Columns row, prediction, confidence and p_<label>. `escape_formulas`: text cells
    that would start a spreadsheet formula are written as text (see spreadsheet_safe)."""

    def __init__(
        self, stream: IO[bytes], header_written: bool = False, escape_formulas: bool = True
    ) -> None:
        self.stream = stream
        self._labels: list[str] | None = None
        self._header_written = header_written
        self._cell = spreadsheet_safe if escape_formulas else _as_is

    def write(self, start: int, predictions: Sequence[dict[str, Any]]) -> None:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if self._labels is None:
            self._labels = list(predictions[0].get("probabilities") or {})
            if not self._header_written:
                confidence = ["confidence"] if predictions[0].get("confidence") is not None else []
                columns = ["row", "prediction", *confidence, *(f"p_{x}" for x in self._labels)]
                writer.writerow(map(self._cell, columns))
        for i, p in enumerate(predictions):
            extra = [p["confidence"]] if p.get("confidence") is not None else []
            probabilities = [p["probabilities"][label] for label in self._labels]
            writer.writerow([start + i, self._cell(p["prediction"]), *extra, *probabilities])
        self.stream.write(out.getvalue().encode())
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class ParquetWriter:
    """Columns row, prediction, confidence and p_<label>; the first chunk fixes the schema."""

    def __init__(self, path: Path, kept: Any = None) -> None:
        self.path = path
        self._writer: Any = None
        self._kept = kept  # rows of an interrupted output, written first

    def write(self, start: int, predictions: Sequence[dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        records = [_flat(start + i, p) for i, p in enumerate(predictions)]
        if self._writer is None:
            schema = (
                self._kept.schema
                if self._kept is not None
                else pa.Table.from_pylist(records).schema
            )
            self._writer = pq.ParquetWriter(self.path, schema)
            if self._kept is not None:
                self._writer.write_table(self._kept)
        self._writer.write_table(pa.Table.from_pylist(records, schema=self._writer.schema))

    def close(self) -> None:
        if self._writer is None and self._kept is not None:
            import pyarrow.parquet as pq

            pq.write_table(self._kept, self.path)
        elif self._writer is not None:
            self._writer.close()


def _as_is(cell: Any) -> Any:
    return cell


def _flat(row: int, prediction: dict[str, Any]) -> dict[str, Any]:
    record = {"row": row, "prediction": prediction["prediction"]}
    if prediction.get("confidence") is not None:
        record["confidence"] = prediction["confidence"]
    for label, value in (prediction.get("probabilities") or {}).items():
        record[f"p_{label}"] = value
    return record


class OutputFile:
    """Where a batch's answers go: stdout, or a file written through a temporary one."""

    def __init__(
        self,
        path: str,
        fmt: OutputFormat,
        *,
        resume: bool,
        input_path: str,
        escape_formulas: bool = True,
    ) -> None:
        self.path, self.fmt = path, fmt
        self.escape_formulas = escape_formulas
        self.kept_rows = 0  # rows of an interrupted output that --resume keeps
        self.written = 0
        self._temp: Path | None = None
        self._stream: IO[bytes] | None = None
        if path == "-":
            if resume:
                raise UsageError("--resume needs --out FILE (it continues that file)")
            if fmt == "parquet":
                raise UsageError("Parquet output needs --out FILE")
            stdout = sys.stdout.buffer
            self.writer: Writer = (
                JsonlWriter(stdout) if fmt == "jsonl" else CsvWriter(stdout, False, escape_formulas)
            )
            return
        target = Path(path)
        if input_path != "-" and target.exists() and os.path.samefile(input_path, target):
            raise UsageError(f"--out {path} is the input file; write the answers somewhere else")
        if target.is_dir():
            raise UsageError(f"--out {path} is a folder; name a file")
        folder = target.parent
        if not folder.is_dir():
            problem = "is not a folder" if folder.exists() else "does not exist; make it first"
            raise UsageError(f"--out {path}: {folder} {problem}")
        try:
            handle, temp = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".partial", dir=folder
            )
        except OSError as exc:  # not writable, read-only file system, disk full
            raise UsageError(f"--out {path}: cannot write in {folder} ({exc.strerror})") from None
        os.close(handle)
        self._temp = Path(temp)
        # mkstemp makes it 0600; the answers get the mode any new file would (the umask's),
        # or the mode of the file they replace.
        os.chmod(temp, target.stat().st_mode & 0o7777 if target.exists() else _new_file_mode())
        self.writer = self._open_writer(resume and target.exists())

    def _open_writer(self, resume: bool) -> Writer:
        assert self._temp is not None
        if self.fmt == "parquet":
            kept = _kept_parquet(Path(self.path)) if resume else None
            self.kept_rows = 0 if kept is None else kept.num_rows
            return ParquetWriter(self._temp, kept)
        self._stream = open(self._temp, "wb")  # noqa: SIM115 - closed in finish()
        if resume:
            kept_text, self.kept_rows = _kept_text(Path(self.path), self.fmt)
            self._stream.write(kept_text)
        if self.fmt == "jsonl":
            return JsonlWriter(self._stream)
        return CsvWriter(self._stream, self.kept_rows > 0, self.escape_formulas)

    def write(self, start: int, predictions: Sequence[dict[str, Any]]) -> None:
        if not predictions:  # a chunk whose first row was refused: the error follows
            return
        self.writer.write(start, predictions)
        self.written += len(predictions)

    def finish(self, *, complete: bool) -> None:
        """Put the output in place: all of it, or (after an error) the rows answered so far.
        An old output file stays untouched when nothing new was answered."""
        self.writer.close()
        if self._stream is not None:
            self._stream.close()
        if self._temp is None:
            return
        if complete or self.written or self.kept_rows:
            os.replace(self._temp, self.path)
        else:
            self._temp.unlink(missing_ok=True)


def _kept_text(path: Path, fmt: OutputFormat) -> tuple[bytes, int]:
    """The complete rows at the head of an interrupted JSON lines or CSV output."""
    data = path.read_bytes()
    lines = data.split(b"\n")[:-1]  # the part after the last newline is incomplete
    kept: list[bytes] = []
    if fmt == "csv" and lines:
        kept.append(lines.pop(0))  # the header
    rows = 0
    for line in lines:
        try:
            row = orjson.loads(line)["row"] if fmt == "jsonl" else int(line.split(b",", 1)[0])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            break
        if row != rows:
            raise InputError(f"--resume: {path} holds row {row} where row {rows} should be")
        kept.append(line)
        rows += 1
    return b"".join(line + b"\n" for line in kept), rows


def _kept_parquet(path: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except Exception as exc:  # an interrupted Parquet file has no footer: nothing to keep
        raise InputError(f"--resume: {path} is not a complete Parquet file ({exc})") from None


def _new_file_mode() -> int:
    """0666 less the process's umask (read by setting it, then put back)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask
