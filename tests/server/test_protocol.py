"""Connection limits of `mlserve serve` (mlserve.server.protocol), against the real process:
slowloris connections and short bodies are closed, and `/health` keeps answering."""

from __future__ import annotations

import select
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support import ServedProcess, serving_process, write_manifest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def iris_server(samples: Path, tmp_path: Path) -> Iterator[ServedProcess]:
    manifest = write_manifest(
        tmp_path,
        f"""
server: {{limits: {{max_image_bytes: 100000}}}}
models:
  - {{name: iris, runtime: sklearn, path: {samples / "iris-v1.joblib"}}}
""",
    )
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with serving_process(
        str(manifest),
        "--header-timeout",
        "2",
        "--body-timeout",
        "2",
        "--limit-concurrency",
        "1000",
        env={"TMPDIR": str(scratch)},
    ) as served:
        yield served


def address(served: ServedProcess) -> tuple[str, int]:
    parts = urlsplit(served.url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def wait_closed(sockets: list[socket.socket], deadline_s: float) -> int:
    """How many of `sockets` the server closed before the deadline (epoll: select() stops
    at descriptor 1024)."""
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        closed = 0
        deadline = time.monotonic() + deadline_s
        while closed < len(sockets) and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(1024)
                except ConnectionResetError:
                    data = b""
                if data == b"":
                    closed += 1
                    selector.unregister(sock)
        return closed


def test_half_open_connections_do_not_stop_health(iris_server: ServedProcess) -> None:
    sockets = []
    try:
        for _ in range(2000):
            sock = socket.create_connection(address(iris_server))
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            sockets.append(sock)
        health = httpx.get(iris_server.url + "/health", timeout=5)
        assert health.status_code == 200
        # The cap (1000) closed the oldest half-open ones at once; the header timeout (2 s)
        # closes the rest.
        assert wait_closed(sockets, deadline_s=30) == 2000
        assert httpx.get(iris_server.url + "/health", timeout=5).status_code == 200
    finally:
        for sock in sockets:
            sock.close()


def test_a_body_shorter_than_its_length_is_closed(iris_server: ServedProcess) -> None:
    with socket.create_connection(address(iris_server)) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"features":'
        )
        assert wait_closed([sock], deadline_s=15) == 1
    assert httpx.get(iris_server.url + "/health", timeout=5).status_code == 200
    assert "Traceback" not in iris_server.output()


def test_a_chunked_upload_stops_at_the_image_limit_without_spooling(
    iris_server: ServedProcess, tmp_path: Path
) -> None:
    boundary = b"xyz"
    head = (
        b"POST /predict/image HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: multipart/form-data; boundary=xyz\r\n\r\n"
    )
    part = (
        b"--"
        + boundary
        + b'\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
    )
    chunk = b"\0" * 65536
    sent = 0
    with socket.create_connection(address(iris_server)) as sock:
        sock.sendall(head + b"%x\r\n%s\r\n" % (len(part), part))
        reply = b""
        while sent < 50_000_000:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            if select.select([sock], [], [], 0)[0]:
                reply = sock.recv(65536)
                break
        reply = reply or sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert sent < 5_000_000  # refused near the 100 kB limit, not after the whole upload
    assert list((tmp_path / "tmp").iterdir()) == []  # nothing spooled to disk


def test_control_characters_in_a_path_cannot_forge_log_lines(iris_server: ServedProcess) -> None:
    forged = "2026-01-01 00:00:00,000 INFO    mlserve.access: GET /admin 200"
    response = httpx.get(iris_server.url + "/x%0a" + forged.replace(" ", "%20"))
    assert response.status_code == 404
    deadline = time.monotonic() + 10
    while "GET /x" not in iris_server.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = iris_server.output().splitlines()
    assert not any(line.startswith(forged) for line in lines)
    assert any("GET /x\\n2026-01-01" in line for line in lines)
