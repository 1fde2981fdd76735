"""Options shared by several commands, with their environment defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from mlserve import wire

Url = Annotated[
    str, typer.Option("--url", envvar=wire.ENV_URL, help="Server to query.", show_default=True)
]
Local = Annotated[
    bool, typer.Option("--local", help="Run the model in this process instead of asking a server.")
]
ManifestPath = Annotated[
    Path, typer.Option("--manifest", envvar=wire.ENV_MANIFEST, help="Manifest for --local.")
]
Model = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model name (default: the server's default model)."),
]
Version = Annotated[
    str | None,
    typer.Option("--version", "-v", help="Model version (default: the model's default version)."),
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
OutputFormat = Annotated[
    Literal["auto", "json", "table"],
    typer.Option("--output", "-o", help="auto: a table on a terminal, JSON when piped."),
]

DEFAULT_URL = wire.DEFAULT_URL
DEFAULT_MANIFEST = Path("models.yaml")
