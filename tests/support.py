"""Test helpers: real uvicorn servers on free loopback ports and the real CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_server(manifest_path: Path, wait_ready: bool = True) -> LiveServer:
    """A real uvicorn server in a thread (the httpx test-suite pattern)."""
    from mlserve.manifest import load_manifest
    from mlserve.server import create_app

    app = create_app(load_manifest(manifest_path))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    live = LiveServer(f"http://127.0.0.1:{port}", server, thread)
    if wait_ready:
        wait_until_settled(live.url)
    return live


def wait_until_settled(url: str, timeout: float = 120) -> None:
    """Wait until no startup model is still loading (ready or failed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(f"{url}/ready").json()
        if not any(m["status"] == "loading" for m in body["models"]):
            return
        time.sleep(0.02)
    raise TimeoutError("models still loading")


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> CliResult:
    """Run the real `mlserve` CLI as a subprocess (stdout is a pipe: JSON output)."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "mlserve", *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=ROOT,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def write_manifest(folder: Path, text: str) -> Path:
    path = folder / "models.yaml"
    path.write_text(text)
    return path
