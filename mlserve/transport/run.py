"""Run the app under uvicorn, in one process or several (`--workers N`)."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from mlserve import wire
from mlserve.config.environment import with_server
from mlserve.config.load import load_manifest
from mlserve.config.schema import Manifest, ModelSpec, ServerSpec
from mlserve.engine import cpus
from mlserve.engine.core import InferenceCore
from mlserve.engine.tuning import ProcessTuning
from mlserve.runtimes._base import Runtime
from mlserve.server.logs import log_config
from mlserve.transport.protocol import ConnectionGuard, ConnectionLimits, protocol_for

if TYPE_CHECKING:
    from mlserve.server.app import Front

log = logging.getLogger("mlserve.server")
MANIFEST_ENV = wire.ENV_SERVE_MANIFEST
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus-client in each worker
OVERRIDES_ENV = wire.ENV_SERVE_OVERRIDES
APP = "mlserve.transport.run:app_from_env"
# The command line's server options that each worker process must see too.
WORKER_OVERRIDES = (
    "host",  # the admin routes are on without a key only on a loopback bind
    "api_key_env",
    "admin_key_env",
    "watch",
    "shutdown_grace_s",
    "header_timeout_s",
    "body_timeout_s",
    "max_connections",
    "http",
    "console",
    "grpc",
    "grpc_port",
    "workers",  # a worker shares the gRPC port with the others (SO_REUSEPORT) only then
)


def app_from_env() -> FastAPI:
    """uvicorn factory: each worker process builds its own engine and app from the manifest
    path and the command line's overrides of its `server` section."""
    from mlserve.server.app import create_app

    overrides = json.loads(os.environ.get(OVERRIDES_ENV, "{}"))
    manifest = with_server(load_manifest(os.environ[MANIFEST_ENV]), **overrides)
    ConnectionGuard.configure(connection_limits(manifest.server))
    return create_app(server_engine(manifest), fronts=grpc_front(manifest.server))


def grpc_front(spec: ServerSpec) -> list[Front]:
    """gRPC beside HTTP, unless turned off: a front the app's lifespan serves."""
    if not spec.grpc:
        return []
    from mlserve.grpc.server import serving_grpc

    return [functools.partial(serving_grpc, spec=spec)]


def server_engine(
    manifest: Manifest, runtime_factory: Callable[[ModelSpec], Runtime] | None = None
) -> InferenceCore:
    """The engine of a server process: with the process tuning only a server applies."""
    budget = cpus.detect(manifest.server.cpus)
    return InferenceCore(manifest, runtime_factory, tuning=ProcessTuning(budget.cpus))


# After the grace period uvicorn cancels what is left, but a model call cannot be cancelled:
# its thread runs on, and the interpreter waits for it at exit. This long after the signal
# past the grace period (unloading, the gRPC drain), the process leaves anyway.
HARD_DEADLINE_AFTER_GRACE_S = 10.0


def exit_when_overdue(
    grace_s: float | None, kill_children: Callable[[], None] | None = None
) -> None:
    """Arm the last resort of a shutdown: exit 1 if the process is still here when the grace
    period and HARD_DEADLINE_AFTER_GRACE_S have passed (no grace period: wait as long as it
    takes). Called once per shutdown, from the signal handler."""
    if grace_s is None:
        return
    deadline = grace_s + HARD_DEADLINE_AFTER_GRACE_S

    def overdue() -> None:
        log.error(
            "still shutting down %.0f s after the signal (a model call that never returns?): "
            "exiting now",
            deadline,
        )
        if kill_children is not None:
            kill_children()
        for handler in logging.getLogger().handlers + log.handlers:
            handler.flush()
        os._exit(1)

    timer = threading.Timer(deadline, overdue)
    timer.daemon = True
    timer.start()


class GracefulServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT after a graceful shutdown, so the process dies "by
    signal"; a server that drained every request cleanly should exit 0 instead. One that
    cannot drain leaves with 1 at a hard deadline (exit_when_overdue)."""

    _overdue_armed = False

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        if not self._overdue_armed:
            self._overdue_armed = True
            exit_when_overdue(self.config.timeout_graceful_shutdown)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


def serve(manifest_path: str, manifest: Manifest) -> None:
    """Serve until SIGTERM/SIGINT: stop accepting, finish what was accepted (up to the grace
    period), unload, exit 0."""
    spec = manifest.server
    os.environ[MANIFEST_ENV] = manifest_path
    os.environ[OVERRIDES_ENV] = json.dumps({name: getattr(spec, name) for name in WORKER_OVERRIDES})
    options: dict[str, Any] = {"factory": True, **_uvicorn_options(spec)}
    if spec.workers > 1:
        os.environ[wire.ENV_SUPERVISOR_PID] = str(os.getpid())
        with _shared_metrics_dir():
            config = uvicorn.Config(APP, workers=spec.workers, **options)
            ReloadingSupervisor(config, sockets=[config.bind_socket()]).run()
        return
    GracefulServer(uvicorn.Config(APP, **options)).run()


def listening_socket(app: FastAPI, spec: ServerSpec) -> socket.socket:
    """The server's address, bound now rather than when serving starts (exits with the
    reason logged if it is taken, as `serve` does)."""
    sock = uvicorn.Config(app, **_uvicorn_options(spec)).bind_socket()
    sock.set_inheritable(False)  # uvicorn's workers need it; no other child process does
    return sock


def serve_app(app: FastAPI, spec: ServerSpec, sock: socket.socket | None = None) -> None:
    """Serve an app built in this process (the Ray backend's front) as `serve` serves its
    own: the same connection limits, logs and graceful shutdown; on `sock` if bound already."""
    ConnectionGuard.configure(connection_limits(spec))
    GracefulServer(uvicorn.Config(app, **_uvicorn_options(spec))).run(
        sockets=None if sock is None else [sock]
    )


def connection_limits(spec: ServerSpec) -> ConnectionLimits:
    return ConnectionLimits(
        spec.header_timeout_s,
        spec.body_timeout_s,
        spec.max_connections,
        spec.limits.max_body_bytes,
        spec.limits.max_header_bytes,
        spec.limits.max_headers,
    )


def _uvicorn_options(spec: ServerSpec) -> dict[str, Any]:
    return {
        "host": spec.host,
        "port": spec.port,
        "log_config": log_config(spec.log_level, spec.log_format),
        "log_level": spec.log_level,
        "timeout_graceful_shutdown": spec.shutdown_grace_s,
        "timeout_keep_alive": spec.keep_alive_s,
        "http": protocol_for(spec.http),
        # h11 refuses a head past this with a 400 of its own; the guard's 431 comes first.
        "h11_max_incomplete_event_size": spec.limits.max_header_bytes + 1024,
    }


class ReloadingSupervisor(Multiprocess):
    """uvicorn's supervisor, but SIGHUP is a live reload in every worker (passed on to them)
    instead of new worker processes that would load every model again."""

    def handle_hup(self) -> None:
        for process in self.processes:
            if process.pid is not None:
                os.kill(process.pid, signal.SIGHUP)

    def handle_term(self) -> None:
        super().handle_term()
        self._arm_overdue()

    def handle_int(self) -> None:
        super().handle_int()
        self._arm_overdue()

    def _arm_overdue(self) -> None:
        if getattr(self, "_overdue_armed", False):
            return
        self._overdue_armed = True

        def kill_workers() -> None:
            for process in self.processes:
                process.kill()

        exit_when_overdue(self.config.timeout_graceful_shutdown, kill_workers)


@contextlib.contextmanager
def _shared_metrics_dir() -> Iterator[None]:
    """Worker processes write their metrics here so that /metrics can add them up."""
    if os.environ.get(MULTIPROCESS_ENV):
        yield
        return
    folder = tempfile.mkdtemp(prefix="mlserve-metrics-")
    os.environ[MULTIPROCESS_ENV] = folder
    try:
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)
