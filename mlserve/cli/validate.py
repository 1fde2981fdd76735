"""`mlserve validate MANIFEST [--load]`: check a manifest without serving it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlserve import wire
from mlserve.cli.output import handles_errors
from mlserve.errors import MlserveError


@handles_errors
def validate(
    manifest: Annotated[
        Path,
        typer.Argument(
            envvar=wire.ENV_MANIFEST,
            help="models.yaml to check, or a folder holding one [./models.yaml].",
        ),
    ] = Path("models.yaml"),
    load: Annotated[bool, typer.Option("--load", help="Also load every model.")] = False,
) -> None:
    """Check a manifest without serving it.

    Schema, files, versions; with --load, load every model too."""
    import asyncio

    from mlserve.config.load import load_manifest

    spec = load_manifest(manifest)
    typer.echo(
        f"{manifest}: ok, {len(spec.models)} model version(s): "
        + ", ".join(m.key for m in spec.models)
    )
    if not load:
        return
    from mlserve.engine.core import InferenceCore

    core = InferenceCore(spec)
    for entry in core.entries():
        asyncio.run(core.load(entry))
        detail = (
            f"loaded in {entry.load_seconds}s"
            if entry.status == "ready"
            else f"FAILED: {entry.reason}"
        )
        typer.echo(f"  {entry.spec.key}: {detail}")
    failed = [e.spec.key for e in core.entries() if e.status != "ready"]
    if failed:
        raise MlserveError(f"{len(failed)} model(s) failed to load: {', '.join(failed)}")


def register(app: typer.Typer) -> None:
    app.command()(validate)
