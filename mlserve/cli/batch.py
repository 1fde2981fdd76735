"""`mlserve batch`: stream a file of rows through a model, chunk by chunk, and never lose a row.

Answers are written in input order, so the output is always a prefix of the input: after an
error or Ctrl-C it holds every row answered before it, and `--resume` continues from there.
"""

from __future__ import annotations

import re
import sys
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from mlserve.cli import options as opt
from mlserve.cli.batchio.readers import Chunk, CsvOptions, InputFormat, read_chunks
from mlserve.cli.batchio.texts import read_texts
from mlserve.cli.batchio.writers import OutputFile, OutputFormat, output_format
from mlserve.cli.connect import connect
from mlserve.cli.output import cli_message, error, handles_errors
from mlserve.client.base import Frontdoor
from mlserve.errors import InputError, MlserveError, UsageError

IN_FLIGHT = 4  # remote chunks sent ahead while earlier answers are written
TABULAR_CHUNK = 1000
# Texts per request: a transformer's batch; the server's text limits (max_texts, the token
# budget) allow it at the sample's max_length.
TEXT_CHUNK = 32
# A row the server names in an error: "row N" of rows, "texts[N]" of texts.
_ROW = re.compile(r"\brow (\d+)\b|\btexts\[(\d+)\]")


@handles_errors
def batch(
    input_path: Annotated[
        str,
        typer.Option("--input", "-i", help="CSV/TSV, JSON lines, .npy or .parquet; '-' = stdin."),
    ],
    input_format: Annotated[
        InputFormat | None,
        typer.Option("--format", help="Input format [from the extension, else sniffed]."),
    ] = None,
    out: Annotated[
        str, typer.Option("--out", help="Output file ('-' = stdout); written whole or resumable.")
    ] = "-",
    output: Annotated[
        OutputFormat | None,
        typer.Option("--output", "-o", help="Output format [from --out's extension, else jsonl]."),
    ] = None,
    delimiter: Annotated[
        str | None,
        typer.Option(help="CSV delimiter [tab for .tsv, else the first of , ; tab on line 1]."),
    ] = None,
    header: Annotated[
        bool | None,
        typer.Option(
            "--header/--no-header",
            help="Whether CSV line 1 names the columns [auto: when every cell is a word].",
            show_default=False,
        ),
    ] = None,
    old_output_format: Annotated[
        OutputFormat | None,
        typer.Option("--output-format", hidden=True, help="Deprecated: use -o/--output."),
    ] = None,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=100_000,
            help=f"Rows per request [{TABULAR_CHUNK}; {TEXT_CHUNK} for a text model].",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue an interrupted --out file after its last row."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar, no summary.")
    ] = False,
    binary: Annotated[
        bool,
        typer.Option(
            "--binary/--no-binary",
            help="Send numeric rows as V2 binary tensors when the server offers them "
            "(--no-binary: always JSON). The output is the same.",
        ),
    ] = True,
    escape_formulas: Annotated[
        bool,
        typer.Option(
            "--escape-formulas/--keep-formulas",
            help="CSV output: write a label that would start a spreadsheet formula "
            "(= + - @) as text, with a leading ' (--keep-formulas: as it is).",
        ),
    ] = True,
    old_json: Annotated[
        bool, typer.Option("--json", hidden=True, help="Deprecated: --no-binary.")
    ] = False,
    model: opt.Model = None,
    model_version: opt.ModelVersion = None,
    old_version: opt.OldVersion = None,
    url: opt.Url = opt.DEFAULT_URL,
    local: opt.Local = False,
    manifest: opt.ManifestPath = opt.DEFAULT_MANIFEST,
    api_key: opt.ApiKey = None,
    timeout: opt.Timeout = opt.DEFAULT_TIMEOUT_S,
    retries: opt.Retries = opt.DEFAULT_RETRIES,
) -> None:
    """Predict every row (or text) of a file.

    Answers stream out in input order, one per row."""
    version = opt.model_version(model_version, old_version)
    if old_json:  # --json is a request body in `predict`; here it chose the wire
        typer.echo("mlserve: batch --json is deprecated; use --no-binary", err=True)
        binary = False
    if old_output_format is not None:
        typer.echo("mlserve: --output-format is deprecated; use -o/--output", err=True)
        output = output or old_output_format
    if input_path != "-" and not Path(input_path).is_file():
        raise InputError(f"--input: no such file: {input_path}")
    if delimiter is not None and len(delimiter.encode().decode("unicode_escape")) != 1:
        raise InputError(f"--delimiter must be one character, got {delimiter!r}")
    csv_options = CsvOptions(
        delimiter.encode().decode("unicode_escape") if delimiter else None, header
    )
    destination = OutputFile(
        out,
        output_format(out, output),
        resume=resume,
        input_path=input_path,
        escape_formulas=escape_formulas,
    )
    read = 0
    client: Frontdoor | None = None
    try:
        with ExitStack() as stack:
            client = stack.enter_context(connect(url, local, manifest, api_key, timeout, retries))
            to_terminal = out == "-" and sys.stdout.isatty()
            progress = stack.enter_context(_progress(input_path, quiet or to_terminal))
            chunks, text = _reader(client, model)
            size = chunk_size or (TEXT_CHUNK if text else TABULAR_CHUNK)
            rows = chunks(input_path, input_format, size, csv_options, destination.kept_rows)
            sender = ChunkSender(client, model, version, binary=binary and not local, text=text)
            for chunk, predictions in _answers_in_order(sender, rows, local):
                destination.write(chunk.start, predictions)
                read += len(predictions)
                progress(len(predictions), chunk.bytes_read)
    except MlserveError as exc:
        destination.finish(complete=False)
        error(cli_message(exc))
        _report_stop(destination, out)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        destination.finish(complete=False)
        _report_stop(destination, out)
        raise typer.Exit(130) from None
    except BaseException:  # whatever else stops the run, no temporary file stays behind
        destination.finish(complete=False)
        raise
    destination.finish(complete=True)
    _report(destination, read, client, quiet)


def _reader(client: Frontdoor, model: str | None) -> tuple[Any, bool]:
    """How to read the input for the model that will answer it: texts for a text model
    (one per row), rows of numbers otherwise; an image model has no batch of rows."""
    kind = client.input_kind(model)
    if kind == "image":
        raise UsageError(
            f"batch reads rows or texts; model {model or 'the default model'} takes images: "
            "use `mlserve predict --image FILE` for each"
        )
    if kind == "text":
        return read_texts, True
    return read_chunks, False


def _report_stop(destination: OutputFile, out: str) -> None:
    total = destination.kept_rows + destination.written
    where = f" to {out}" if out != "-" and total else ""
    resume = "; resume with --resume" if out != "-" and total else ""
    typer.echo(f"mlserve: {total} rows written{where}{resume}", err=True)


def _report(destination: OutputFile, read: int, client: Frontdoor | None, quiet: bool) -> None:
    retried = getattr(client, "retried", 0)
    kept = f" (after {destination.kept_rows} kept by --resume)" if destination.kept_rows else ""
    if not quiet:
        note = f"; {retried} requests retried" if retried else ""
        typer.echo(
            f"mlserve: {read} rows read, {destination.written} written{kept}{note}", err=True
        )
    if read != destination.written:
        raise MlserveError(f"{read} rows read but {destination.written} written")


class ChunkSender:
    """Sends a chunk's rows and returns their predictions. The first chunk goes to
    /predict/batch as JSON, and its answer names the model and version that serve the run
    (the server picks the default); from then on, numeric rows go as V2 binary tensors to
    that version. Chunks sent meanwhile wait for that first answer."""

    def __init__(
        self,
        client: Frontdoor,
        model: str | None,
        version: str | None,
        *,
        binary: bool,
        text: bool = False,
    ) -> None:
        self.client = client
        self.model, self.version = model, version
        self.binary = binary and not text
        self.text = text  # rows are texts: sent to the classify route
        self._pinned: tuple[str, str] | None = None
        self._first = threading.Lock()
        self._first_answered = threading.Event()

    def __call__(self, chunk: Chunk, stop: int | None = None) -> Sequence[dict[str, Any]]:
        rows = chunk.rows[:stop]
        if len(rows) == 0:
            return []
        if self.binary and not isinstance(rows, list) and self._wait_for_pin():
            assert self._pinned is not None
            model, version = self._pinned
            body = self.client.predict_array(
                rows, columns=chunk.columns, model=model, version=version
            )
        else:
            body = self._as_json(chunk, stop)
        predictions: Sequence[dict[str, Any]] = body["predictions"]
        return predictions

    def _wait_for_pin(self) -> bool:
        """Whether the run is pinned to a version; the first caller is not (it asks)."""
        if self._first.acquire(blocking=False):
            return False  # this call is the first: it goes as JSON and pins the run
        self._first_answered.wait()
        return self._pinned is not None

    def _as_json(self, chunk: Chunk, stop: int | None) -> dict[str, Any]:
        try:
            if self.text:
                payload = {"texts": chunk.rows[:stop]}
                body = self.client.run("classify", payload, self.model, self.version)
            else:
                body = self.client.run(
                    "predict_batch", chunk.payload(stop), self.model, self.version
                )
            if isinstance(body.get("model"), str) and isinstance(body.get("version"), str):
                self._pinned = self._pinned or (body["model"], body["version"])
            return body
        finally:
            self._first_answered.set()


def _answers_in_order(
    send: ChunkSender, chunks: Iterator[Chunk], local: bool
) -> Iterator[tuple[Chunk, Sequence[dict[str, Any]]]]:
    """(chunk, its answers) in input order, a few remote requests in flight. A chunk the
    server refuses yields the answers of its rows before the bad one, then raises."""

    def settle(
        chunk: Chunk, future: Future[Sequence[dict[str, Any]]]
    ) -> Iterator[tuple[Chunk, Sequence[dict[str, Any]]]]:
        try:
            predictions = future.result()
        except MlserveError as exc:
            bad = _bad_row(exc, chunk)
            if bad:  # answer the rows before the bad one, so a resume starts at it
                yield chunk, send(chunk, bad)
            exc.message = _absolute(exc.message, chunk)
            raise
        yield chunk, predictions
        if chunk.error is not None:
            raise chunk.error

    with ThreadPoolExecutor(1 if local else IN_FLIGHT) as pool:  # --local: one event loop
        pending: deque[tuple[Chunk, Future[Sequence[dict[str, Any]]]]] = deque()
        try:
            for chunk in chunks:
                pending.append((chunk, pool.submit(send, chunk)))
                while pending and (len(pending) >= IN_FLIGHT or pending[0][1].done() or local):
                    yield from settle(*pending.popleft())
            while pending:
                yield from settle(*pending.popleft())
        finally:
            for _, future in pending:
                future.cancel()


def _row_index(match: re.Match[str]) -> int:
    return int(match.group(1) or match.group(2))


def _bad_row(exc: MlserveError, chunk: Chunk) -> int:
    match = _ROW.search(exc.message)
    if not isinstance(exc, InputError) or match is None:
        return 0
    return min(_row_index(match), len(chunk.rows))


def _absolute(message: str, chunk: Chunk) -> str:
    """The server numbers rows within a request; users need the file's rows and lines."""
    if _ROW.search(message):
        return _ROW.sub(
            lambda m: chunk.where(_row_index(m)) if _row_index(m) < len(chunk.rows) else m.group(0),
            message,
        )
    last = len(chunk.rows) - 1
    if last < 0:
        return message
    lines = f"lines {chunk.lines[0]}-{chunk.lines[last]}"
    return f"rows {chunk.start}-{chunk.start + last} ({lines}): {message}"


@contextmanager
def _progress(input_path: str, quiet: bool) -> Iterator[Any]:
    """A progress bar on a terminal's stderr; nothing when piped, --quiet, or when the
    answers go to the same terminal (the bar would interleave with them)."""
    if quiet or not sys.stderr.isatty():
        yield lambda rows, read: None
        return
    from mlserve.cli.batchio.progress import rows_progress

    total = Path(input_path).stat().st_size if input_path != "-" else None
    with rows_progress(total) as advance:
        yield advance


def register(app: typer.Typer) -> None:
    app.command()(batch)
