"""`mlserve serve MANIFEST`: start the HTTP server for every model in the manifest."""

from __future__ import annotations

import errno
import socket
from pathlib import Path
from typing import Annotated, Literal

import typer

from mlserve import wire
from mlserve.cli.output import handles_errors
from mlserve.errors import CouldNotStart, MlserveError

DEFAULT_MANIFEST = Path("models.yaml")

LogLevel = Literal["critical", "error", "warning", "info", "debug"]
LogFormat = Literal["text", "json"]
HttpParser = Literal["auto", "httptools", "h11"]


@handles_errors
def serve(
    manifest: Annotated[
        Path,
        typer.Argument(
            envvar=wire.ENV_MANIFEST,
            help="models.yaml to serve, or a folder holding one [./models.yaml].",
        ),
    ] = DEFAULT_MANIFEST,
    host: Annotated[
        str | None, typer.Option(help="Bind address [manifest, else 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port [manifest, else 8000].")] = None,
    grpc: Annotated[
        bool | None,
        typer.Option(
            "--grpc/--no-grpc",
            help="The Open Inference Protocol over gRPC beside HTTP [manifest, else on].",
            show_default=False,
        ),
    ] = None,
    grpc_port: Annotated[
        int | None, typer.Option(help="gRPC port [manifest, else 8081].", show_default=False)
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Server processes.")] = None,
    log_level: Annotated[LogLevel | None, typer.Option(help="[manifest, else info]")] = None,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(help="text lines, or one JSON object per line [manifest, else text]"),
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(help="Require an API key; the keys (comma-separated) are in this variable."),
    ] = None,
    admin_key_env: Annotated[
        str | None,
        typer.Option(
            help="The admin routes (load, unload, reload) need a key from this variable; "
            "without one they answer on a loopback bind only."
        ),
    ] = None,
    watch: Annotated[
        bool | None,
        typer.Option(
            "--watch/--no-watch",
            help="Reload when the manifest or a model file changes [manifest, else off].",
        ),
    ] = None,
    backend: Annotated[
        Literal["uvicorn", "ray"],
        typer.Option(help="uvicorn: this machine; ray: Ray Serve replicas (mlserve[ray])."),
    ] = "uvicorn",
    ray_address: Annotated[
        str | None,
        typer.Option(help="Join this Ray cluster (auto | host:port) instead of a local one."),
    ] = None,
    header_timeout: Annotated[
        float | None,
        typer.Option(
            min=0.001, help="Close a connection whose headers take longer [manifest, else 10]."
        ),
    ] = None,
    body_timeout: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="Close a connection whose body takes longer after its headers "
            "[manifest, else 60].",
        ),
    ] = None,
    http: Annotated[
        HttpParser | None,
        typer.Option(
            help="HTTP/1.1 parser; the connection limits hold over both [manifest, else auto: "
            "httptools where installed].",
        ),
    ] = None,
    timeout_keep_alive: Annotated[
        float | None,
        typer.Option(min=0.001, help="Close an idle kept-alive connection after [5] seconds."),
    ] = None,
    limit_concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Most open connections; past it the oldest idle ones are closed "
            "[manifest, else 2048].",
        ),
    ] = None,
    console: Annotated[
        bool | None,
        typer.Option("--console/--no-console", help="The live console at / [manifest, else on]."),
    ] = None,
    grace_period: Annotated[
        float | None,
        typer.Option(
            min=0, help="Seconds to finish accepted requests on SIGTERM [manifest, else 30]."
        ),
    ] = None,
) -> None:
    """Serve a manifest's models over HTTP.

    Every model of MANIFEST, with the API documented at /docs."""
    from mlserve.config.environment import with_server
    from mlserve.config.load import load_manifest

    spec = with_server(
        load_manifest(manifest),
        host=host,
        port=port,
        grpc=grpc,
        grpc_port=grpc_port,
        workers=workers,
        log_level=log_level,
        log_format=log_format,
        api_key_env=api_key_env,
        admin_key_env=admin_key_env,
        watch=watch,
        shutdown_grace_s=grace_period,
        header_timeout_s=header_timeout,
        body_timeout_s=body_timeout,
        keep_alive_s=timeout_keep_alive,
        http=http,
        max_connections=limit_concurrency,
        console=console,
    )
    from mlserve.engine import cpus

    # Before the server stack imports numpy: BLAS and OpenMP read these when they load.
    cpus.limit_native_pools(cpus.detect(spec.server.cpus).cpus)
    from mlserve.config.access import keys_from_env
    from mlserve.transport.run import serve as run_server

    keys_from_env(spec.server.api_key_env)  # refuse to start without the keys it names
    keys_from_env(spec.server.admin_key_env)
    _check_port(spec.server.host, spec.server.port)  # before printing where it will serve
    if spec.server.grpc:
        _check_port(spec.server.host, spec.server.grpc_port, "--grpc-port", "gRPC ")
    if spec.server.log_format == "text":
        base = f"http://{spec.server.host}:{spec.server.port}"
        console_url = f"console {base}{wire.CONSOLE}  " if spec.server.console else ""
        grpc_url = f"  gRPC {spec.server.host}:{spec.server.grpc_port}" if spec.server.grpc else ""
        typer.echo(
            f"mlserve: {console_url}API docs {base}{wire.DOCS}  metrics {base}{wire.METRICS}"
            f"{grpc_url}",
            err=True,
        )
    if backend == "ray":
        try:
            from mlserve.scale import ray_serve
        except ImportError:
            raise MlserveError(
                "the ray backend needs Ray Serve: pip install 'mlserve[ray]'"
            ) from None
        ray_serve.run(spec, ray_address)
        return
    # Absolute, but links kept: a reload reads the link again (a ConfigMap repoints one).
    run_server(str(spec.source.absolute()), spec)


def _check_port(host: str, port: int, flag: str = "--port", what: str = "") -> None:
    """Refuse to start, naming the port, when something already listens on it."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CouldNotStart(
                    f"{what}port {port} on {host} is already in use; stop what holds it or "
                    f"pass {flag} N (e.g. {flag} {port + 1})"
                ) from None
            raise CouldNotStart(f"cannot listen on {host}:{port}: {exc.strerror}") from None


ENVIRONMENT_HELP = (
    "Every server option can also come from the environment (flags win over it, it wins over "
    "the manifest): " + ", ".join(wire.SERVER_ENV_VARIABLES) + ". Lists are JSON."
)


def register(app: typer.Typer) -> None:
    app.command(epilog=ENVIRONMENT_HELP)(serve)
