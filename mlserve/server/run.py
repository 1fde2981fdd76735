"""Run the app under uvicorn, in one process or several (`--workers N`)."""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI

from mlserve.logging import log_config
from mlserve.manifest import load_manifest

MANIFEST_ENV = "MLSERVE_SERVE_MANIFEST"


def app_from_env() -> FastAPI:
    """uvicorn factory: each worker process builds its own app from the manifest path."""
    from mlserve.server.app import create_app

    return create_app(load_manifest(os.environ[MANIFEST_ENV]))


def serve(manifest_path: str, host: str, port: int, workers: int, log_level: str) -> None:
    os.environ[MANIFEST_ENV] = str(manifest_path)
    uvicorn.run(
        "mlserve.server.run:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config(log_level),
        log_level=log_level,
        timeout_graceful_shutdown=30,
    )
