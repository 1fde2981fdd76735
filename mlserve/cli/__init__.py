"""The `mlserve` command. Imports only Typer here; each command imports what it needs."""

from __future__ import annotations

from typing import Annotated

import typer

from mlserve._version import __version__
from mlserve.cli import admin, batch, classify, info, predict, serve, validate

app = typer.Typer(
    name="mlserve",
    help="Launch and query machine-learning model servers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: importing rich and markdown-it would cost ~0.1 s
    context_settings={"help_option_names": ["-h", "--help"]},
)
for module in (serve, validate, predict, batch, classify, info, admin):
    module.register(app)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mlserve {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_print_version,
            is_eager=True,
            help="Print mlserve's version and exit.",
        ),
    ] = False,
) -> None:
    """Launch and query machine-learning model servers."""


def main() -> None:
    app()
