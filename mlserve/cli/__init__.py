"""The `mlserve` command. Imports only Typer here; each command imports what it needs."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from mlserve._version import __version__
from mlserve.cli import admin, batch, classify, info, predict, serve, validate

# What a value stands for, by parameter name (else the name in capitals): help reads
# `--timeout SECONDS`, not Typer's Python types (`<float range>`, `<str>`, `<list[str]>`).
PLACEHOLDERS = {
    "model": "NAME[:VERSION]",
    "model_version": "VERSION",
    "name": "NAME[:VERSION]",
    "api_key": "KEY",
    "admin_key": "KEY",
    "api_key_env": "VARIABLE",
    "admin_key_env": "VARIABLE",
    "timeout": "SECONDS",
    "body_timeout": "SECONDS",
    "header_timeout": "SECONDS",
    "grace_period": "SECONDS",
    "timeout_keep_alive": "SECONDS",
    "retries": "N",
    "workers": "N",
    "limit_concurrency": "N",
    "top_k": "K",
    "chunk_size": "ROWS",
    "features": "VALUES",
    "json_body": "BODY",
    "image": "FILE",
    "input_path": "FILE",
    "out": "FILE",
    "delimiter": "CHAR",
    "manifest": "MANIFEST",
    "ray_address": "ADDRESS",
    "source": "-",
    "texts": "TEXT",
}


class _NamedArgument(TyperArgument):
    """An argument shown by its placeholder alone (Typer adds its type after the name)."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


class Commands(TyperGroup):
    """mlserve's commands, their values named for what they stand for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for command in self.commands.values():
            for param in command.params:
                _name_placeholder(param)


def _name_placeholder(param: object) -> None:
    if not isinstance(param, TyperOption | TyperArgument) or param.metavar is not None:
        return
    if param.type_descriptor.is_choice:  # its choices say it best: <auto|json|table>
        return
    if isinstance(param, TyperOption) and (param.is_flag or param.count):
        return
    name = param.name or ""
    param.metavar = PLACEHOLDERS.get(name, name.upper())
    if isinstance(param, TyperArgument):
        param.__class__ = _NamedArgument


app = typer.Typer(
    name="mlserve",
    cls=Commands,
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
