"""Run the app under uvicorn, in one process or several (`--workers N`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from mlserve.logging import log_config
from mlserve.manifest import load_manifest

MANIFEST_ENV = "MLSERVE_SERVE_MANIFEST"
APP = "mlserve.server.run:app_from_env"


def app_from_env() -> FastAPI:
    """uvicorn factory: each worker process builds its own app from the manifest path."""
    from mlserve.server.app import create_app

    return create_app(load_manifest(os.environ[MANIFEST_ENV]))


class GracefulServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT after a graceful shutdown, so the process dies "by
    signal"; a server that drained every request cleanly should exit 0 instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


def serve(
    manifest_path: str, host: str, port: int, workers: int, log_level: str, grace_s: float = 30
) -> None:
    os.environ[MANIFEST_ENV] = str(manifest_path)
    options = {
        "factory": True,
        "host": host,
        "port": port,
        "log_config": log_config(log_level),
        "log_level": log_level,
        "timeout_graceful_shutdown": grace_s,
    }
    if workers > 1:
        uvicorn.run(APP, workers=workers, **options)  # type: ignore[arg-type]
        return
    GracefulServer(uvicorn.Config(APP, **options)).run()  # type: ignore[arg-type]
