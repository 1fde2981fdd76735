"""The `mlserve` command. Imports only Typer here; each command imports what it needs."""

from __future__ import annotations

import typer

from mlserve.cli import batch, classify, info, predict, serve, validate

app = typer.Typer(
    name="mlserve",
    help="Launch and query machine-learning model servers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: importing rich and markdown-it would cost ~0.1 s
    context_settings={"help_option_names": ["-h", "--help"]},
)
for module in (serve, validate, predict, batch, classify, info):
    module.register(app)


def main() -> None:
    app()
