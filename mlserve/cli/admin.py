"""An operator's commands on a running server: `load`, `unload`, `reload` (admin key)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from mlserve import wire
from mlserve.cli import options as opt
from mlserve.cli.output import handles_errors, wants_json, write_json

if TYPE_CHECKING:
    from mlserve.client.remote import Client

AdminKey = Annotated[
    str | None,
    typer.Option(
        "--admin-key",
        envvar=wire.ENV_ADMIN_KEY,
        help="The server's admin key (server.admin_key_env), sent as a Bearer token.",
        show_default=False,
    ),
]
Name = Annotated[
    str, typer.Argument(help="Model name, as the manifest names it (NAME:VERSION for one version).")
]
Version = Annotated[
    str | None,
    typer.Option("--model-version", help="One version (or alias); default: every version."),
]


def _client(url: str, admin_key: str | None, timeout: float, retries: int) -> Client:
    from mlserve.client.remote import Client

    return Client(url, admin_key=admin_key, timeout=timeout, retries=retries)


def _repository_command(action: str, doc: str) -> Callable[..., None]:
    """`mlserve load` or `mlserve unload`: the same options, one repository call."""

    @handles_errors
    def command(
        name: Name,
        model_version: Version = None,
        url: opt.Url = opt.DEFAULT_URL,
        admin_key: AdminKey = None,
        timeout: opt.Timeout = opt.DEFAULT_TIMEOUT_S,
        retries: opt.Retries = opt.DEFAULT_RETRIES,
    ) -> None:
        from mlserve.client.base import split_model

        split_name, model_version = split_model(name, model_version)  # iris:v1, as elsewhere
        name = split_name or name
        with _client(url, admin_key, timeout, retries) as client:
            getattr(client, f"{action}_model")(name, model_version)
        version = f" version {model_version}" if model_version else ""
        typer.echo(f"{action}ed {name}{version}", err=True)

    command.__name__ = action
    command.__doc__ = doc
    return command


load = _repository_command(
    "load",
    "Load a model version the manifest names.\n\nAgain, if it failed or was unloaded.",
)
unload = _repository_command(
    "unload",
    "Free a model version once its requests finish.\n\n"
    'Later requests get 503 "unloaded" until it is loaded again.',
)


@handles_errors
def reload(
    url: opt.Url = opt.DEFAULT_URL,
    admin_key: AdminKey = None,
    timeout: opt.Timeout = opt.DEFAULT_TIMEOUT_S,
    retries: opt.Retries = opt.DEFAULT_RETRIES,
    output: opt.OutputFormat = "auto",
) -> None:
    """Apply the server's edited manifest, no restart.

    The server reads its manifest again and applies what changed.
    A broken manifest changes nothing: the server's message is printed and the exit code is 1.
    The exit code is 1 too when any version failed to load (a changed one that failed keeps
    its previous files serving): each is listed with its reason on stderr."""
    with _client(url, admin_key, timeout, retries) as client:
        report = client.reload()
    reasons = report.pop("reasons", [])
    if wants_json(output):
        write_json({**report, "reasons": reasons})
    else:
        for outcome, keys in report.items():
            typer.echo(f"{outcome.replace('_', ' ')}: {', '.join(keys) if keys else '-'}")
    if report.get("restart_needed"):
        changed = ", ".join(report["restart_needed"])
        typer.echo(f"note: {changed} changed; server settings take effect at a restart", err=True)
    if report.get("kept") or report.get("failed"):
        for reason in reasons:
            typer.echo(f"error: {reason}", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    for command in (load, unload, reload):
        app.command()(command)
