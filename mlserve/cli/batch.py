"""`mlserve batch`: stream a file of rows through a model, chunk by chunk."""

from __future__ import annotations

import os
import sys
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Annotated, Any, Literal

import typer

from mlserve.cli import options as opt
from mlserve.cli.connect import connect
from mlserve.cli.io import Chunk, InputFormat, ResultWriter, read_chunks
from mlserve.cli.output import handles_errors
from mlserve.client.base import Client
from mlserve.errors import MlserveError

IN_FLIGHT = 4  # remote chunks sent ahead while earlier answers are written


@handles_errors
def batch(
    input_path: Annotated[
        str, typer.Option("--input", help="CSV, JSON lines or .npy; '-' = stdin.")
    ],
    input_format: Annotated[
        InputFormat | None,
        typer.Option("--format", help="Input format [from the extension, else sniffed]."),
    ] = None,
    output_path: Annotated[
        str, typer.Option("--output", help="Where results go; '-' = stdout.")
    ] = "-",
    output_format: Annotated[
        Literal["jsonl", "csv"],
        typer.Option("--output-format", help="JSON lines (one per row) or CSV."),
    ] = "jsonl",
    chunk_size: Annotated[int, typer.Option(min=1, max=100_000, help="Rows per request.")] = 1000,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    model: opt.Model = None,
    version: opt.Version = None,
    url: opt.Url = opt.DEFAULT_URL,
    local: opt.Local = False,
    manifest: opt.ManifestPath = opt.DEFAULT_MANIFEST,
    api_key: opt.ApiKey = None,
) -> None:
    """Predict every row of a file; results stream out in input order."""
    if input_path != "-" and not Path(input_path).is_file():
        raise MlserveError(f"--input: no such file: {input_path}")
    with ExitStack() as stack:
        client = stack.enter_context(connect(url, local, manifest, api_key))
        out: IO[bytes] = (
            sys.stdout.buffer
            if output_path == "-"
            else stack.enter_context(open(output_path, "wb"))
        )
        writer = ResultWriter(out, output_format)
        total = os.path.getsize(input_path) if input_path != "-" else None
        progress = stack.enter_context(_progress(total, quiet))
        chunks = read_chunks(input_path, input_format, chunk_size)
        for chunk, body in _predict_in_order(client, chunks, model, version, local):
            writer.write(chunk.start, body["predictions"])
            progress(len(chunk.rows), chunk.bytes_read)


def _predict_in_order(
    client: Client, chunks: Any, model: str | None, version: str | None, local: bool
) -> Any:
    """Yield (chunk, answer) in input order, keeping a few remote requests in flight."""

    def send(chunk: Chunk) -> dict[str, Any]:
        try:
            return client.run("predict_batch", chunk.payload(), model, version)
        except MlserveError as exc:
            exc.message = f"rows {chunk.start}-{chunk.start + len(chunk.rows) - 1}: {exc.message}"
            raise

    if local:  # one event loop in this process: one chunk at a time
        for chunk in chunks:
            yield chunk, send(chunk)
        return
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        pending: deque[tuple[Chunk, Future[dict[str, Any]]]] = deque()
        for chunk in chunks:
            pending.append((chunk, pool.submit(send, chunk)))
            if len(pending) >= IN_FLIGHT:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


def _progress(total_bytes: int | None, quiet: bool) -> Any:
    """A rich progress bar on a terminal's stderr; a no-op when piped or --quiet."""
    from contextlib import contextmanager

    @contextmanager
    def silent() -> Any:
        yield lambda rows, read: None

    if quiet or not sys.stderr.isatty():
        return silent()
    from mlserve.cli.progress import rows_progress

    return rows_progress(total_bytes)


def register(app: typer.Typer) -> None:
    app.command()(batch)
