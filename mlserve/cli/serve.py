"""`mlserve serve MANIFEST`: start the HTTP server for every model in the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlserve.cli.output import handles_errors


@handles_errors
def serve(
    manifest: Annotated[Path, typer.Argument(help="models.yaml to serve.")],
    host: Annotated[
        str | None, typer.Option(help="Bind address [manifest, else 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port [manifest, else 8000].")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Server processes.")] = None,
    log_level: Annotated[str | None, typer.Option(help="critical|error|warning|info|debug")] = None,
) -> None:
    """Serve every model of MANIFEST over HTTP (docs at /docs)."""
    from mlserve.manifest import load_manifest

    spec = load_manifest(manifest).server  # refuse a broken manifest before starting
    from mlserve.server.run import serve as run_server

    run_server(
        str(manifest.resolve()),
        host or spec.host,
        spec.port if port is None else port,
        workers or spec.workers,
        (log_level or spec.log_level).lower(),
    )


def register(app: typer.Typer) -> None:
    app.command()(serve)
