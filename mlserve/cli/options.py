"""Options shared by several commands, with their environment defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from mlserve import wire

Url = Annotated[
    str,
    typer.Option(
        "--url",
        envvar=wire.ENV_URL,
        help="Server to query (host:port means http://host:port).",
        show_default=True,
    ),
]
Local = Annotated[
    bool, typer.Option("--local", help="Run the model in this process instead of asking a server.")
]
ManifestPath = Annotated[
    Path, typer.Option("--manifest", envvar=wire.ENV_MANIFEST, help="Manifest for --local.")
]
Model = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model name, or NAME:VERSION (default: the default model of the command's kind).",
    ),
]
ModelVersion = Annotated[
    str | None,
    typer.Option("--model-version", help="Model version (default: the model's default version)."),
]
OldVersion = Annotated[
    str | None,
    typer.Option(
        "--version", "-v", hidden=True, help="Deprecated: use --model-version.", show_default=False
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar=wire.ENV_API_KEY,
        help="API key sent as a Bearer token.",
        show_default=False,
    ),
]
Timeout = Annotated[
    float,
    typer.Option("--timeout", min=0.001, help="Seconds for each request in all (not per read)."),
]
Retries = Annotated[
    int,
    typer.Option(
        "--retries",
        min=0,
        help="Tries again after a 503, 504 or dropped connection (backoff, Retry-After).",
    ),
]
OutputFormat = Annotated[
    Literal["auto", "json", "table"],
    typer.Option("--output", "-o", help="auto: a table on a terminal, JSON when piped."),
]

DEFAULT_URL = wire.DEFAULT_URL
DEFAULT_MANIFEST = Path("models.yaml")
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 5


def model_version(new: str | None, old: str | None) -> str | None:
    """--model-version, or the deprecated --version/-v with a note on stderr."""
    if old is None:
        return new
    typer.echo(
        "mlserve: --version/-v for the model version is deprecated; use --model-version "
        "(or --model NAME:VERSION). `mlserve --version` prints mlserve's own version.",
        err=True,
    )
    return new or old
