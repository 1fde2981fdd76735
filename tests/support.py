"""Test helpers: real uvicorn servers on free loopback ports and the real CLI."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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


def start_server(manifest_path: Path, wait_ready: bool = True, **app_options: Any) -> LiveServer:
    """A real uvicorn server in a thread (the httpx test-suite pattern); `app_options` go to
    create_app."""
    from mlserve.config.load import load_manifest
    from mlserve.server import create_app
    from mlserve.transport.protocol import protocol_for  # `serve`'s connections (default limits)

    app = create_app(load_manifest(manifest_path), **app_options)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        http=protocol_for("auto"),
    )
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


def wait_for(check: Callable[[], bool], timeout: float = 60) -> None:
    """Poll an observable condition until it holds; fail past the deadline."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(
    *args: str,
    input: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    in_subprocess: bool = False,
    cwd: Path = ROOT,
) -> CliResult:
    """Run the real `mlserve` CLI, in this process through Typer's runner (stdout is not a
    terminal: JSON output, as when piped). `in_subprocess` runs `python -m mlserve` instead,
    for what only a process shows: exit by signal, import weight, a clean interpreter."""
    if in_subprocess:
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.run(
            [sys.executable, "-m", "mlserve", *args],
            input=input,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            cwd=cwd,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)
    from typer.testing import CliRunner

    from mlserve.cli import app

    with contextlib.chdir(cwd):
        result = CliRunner().invoke(app, list(args), input=input, env=env)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # What the process would have printed: a test that forbids tracebacks sees it.
        assert result.exc_info is not None
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return CliResult(result.exit_code, result.stdout, stderr)


def write_manifest(folder: Path, text: str) -> Path:
    path = folder / "models.yaml"
    path.write_text(text)
    return path


@dataclass
class ServedProcess:
    url: str
    proc: subprocess.Popen[str]
    log: IO[str]
    grpc: str = ""  # host:port of its gRPC server

    def terminate(self, timeout: float = 90) -> tuple[int, str]:
        """SIGTERM to the server process (as Kubernetes sends it); its exit code and log."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        return code, self.output()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()


@contextmanager
def serving_process(
    *args: str,
    timeout: float = 240,
    env: Mapping[str, str | None] | None = None,
    prefix: tuple[str, ...] = (),
) -> Iterator[ServedProcess]:
    """`mlserve serve ARGS` as a real process group on a free port, once it is ready. `env`
    adds variables (None removes one); `prefix` runs it under a command (e.g. taskset)."""
    port, grpc_port = free_port(), free_port()
    command = [*prefix, sys.executable, "-m", "mlserve", "serve", *args, "--port", str(port)]
    command += ["--grpc-port", str(grpc_port)]  # never the default 8081 another test holds
    environment = {**os.environ, **(env or {})}
    with tempfile.TemporaryFile("w+") as log:  # a pipe nobody reads would fill and block
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=log,
            text=True,
            cwd=ROOT,
            start_new_session=True,
            env={k: v for k, v in environment.items() if v is not None},
        )
        served = ServedProcess(f"http://127.0.0.1:{port}", proc, log, f"127.0.0.1:{grpc_port}")
        try:
            _wait_ready(served, timeout)
            yield served
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _wait_ready(served: ServedProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(served.url + "/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if served.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not become ready:\n{served.output()[-3000:]}")
        time.sleep(0.25)


@contextmanager
def fake_server(reply: Callable[[socket.socket], None]) -> Iterator[str]:
    """A misbehaving HTTP server on a free loopback port: `reply` gets each connection after
    its request headers were read (hang, trickle, answer garbage...)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=_handle, args=(conn, reply, stop), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _handle(
    conn: socket.socket, reply: Callable[[socket.socket], None], stop: threading.Event
) -> None:
    with conn:
        conn.settimeout(5)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            reply(conn)
        except OSError:
            return


class InProcessTransport(httpx.BaseTransport):
    """A synchronous httpx transport into an ASGI app through `httpx.ASGITransport`: the app
    runs on its own event loop in a thread (its lifespan entered), tests call it with a plain
    `httpx.Client`. The real app, no socket."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._asgi = httpx.ASGITransport(app=app)
        self._stop: asyncio.Event | None = None
        self._served = self._call(self._enter())

    async def _enter(self) -> asyncio.Future[None]:
        self._stop = asyncio.Event()
        started = self._loop.create_future()

        async def serve() -> None:
            async with self._app.router.lifespan_context(self._app):
                started.set_result(None)
                assert self._stop is not None
                await self._stop.wait()

        served = self._loop.create_task(serve())
        await started
        return served

    def _call(self, coroutine: Any, timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.AsyncByteStream):  # a test's generator body
            request.stream = _Chunks(list(request.stream))

        async def forward() -> httpx.Response:
            response = await self._asgi.handle_async_request(request)
            body = await response.aread()
            return httpx.Response(
                response.status_code, headers=response.headers, content=body, request=request
            )

        response: httpx.Response = self._call(forward())
        return response

    def close(self) -> None:
        if self._stop is None:
            return

        async def leave() -> None:
            assert self._stop is not None
            self._stop.set()
            await self._served

        self._call(leave())
        self._stop = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()


class _Chunks(httpx.AsyncByteStream):
    """A request body's chunks, as the client sent them, for the ASGI transport."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


@contextmanager
def in_process(manifest_path: Path, **app_options: Any) -> Iterator[httpx.Client]:
    """The app over `manifest_path`, its startup models loaded (ready or failed), behind an
    httpx.Client: route tests in process, through httpx.ASGITransport."""
    from mlserve.config.load import load_manifest
    from mlserve.server import create_app

    app = create_app(load_manifest(manifest_path), **app_options)
    transport = InProcessTransport(app)
    with httpx.Client(transport=transport, base_url="http://127.0.0.1:8000", timeout=60) as client:
        deadline = time.monotonic() + 120
        while any(m["status"] == "loading" for m in client.get("/ready").json()["models"]):
            assert time.monotonic() < deadline, "models still loading"
            time.sleep(0.02)
        yield client
