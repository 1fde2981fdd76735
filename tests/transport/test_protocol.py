"""Connection limits of `mlserve serve` (mlserve.transport.protocol), against the real process:
slowloris connections and short bodies are closed, and `/health` keeps answering."""

from __future__ import annotations

import contextlib
import json
import re
import resource
import select
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import orjson
import pytest

from tests.support import ROOT, ServedProcess, serving_process, wait_for, write_manifest
from tests.transport.probe_health import health_latencies

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


SCRATCH: dict[str, Path] = {}  # each server's TMPDIR, by its URL


@pytest.fixture(scope="module", params=["httptools", "h11"])
def iris_server(
    request: pytest.FixtureRequest, samples: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedProcess]:
    """One server per HTTP parser (`--http`): the limits hold over both."""
    folder = tmp_path_factory.mktemp(f"protocol-{request.param}")
    manifest = write_manifest(
        folder,
        f"""
server: {{limits: {{max_image_bytes: 100000, max_bodies_in_flight_bytes: 3000000}}}}
models:
  - {{name: iris, runtime: sklearn, path: {samples / "iris-v1.joblib"}}}
""",
    )
    scratch = folder / "tmp"
    scratch.mkdir()
    with serving_process(
        str(manifest),
        "--http",
        request.param,
        "--header-timeout",
        "2",
        "--body-timeout",
        "2",
        "--limit-concurrency",
        "1000",
        env={"TMPDIR": str(scratch)},
    ) as served:
        SCRATCH[served.url] = scratch
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
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                try:
                    data = ready.recv(1024)
                except ConnectionResetError:
                    data = b""
                if data == b"":
                    closed += 1
                    selector.unregister(ready)
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


def big_v2_request(path: bytes, rows: np.ndarray, extra_headers: bytes = b"") -> bytes:
    """The head and JSON part of a V2 request whose binary tensor (`rows`) follows."""
    raw = rows.astype("<f8").tobytes()
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": list(rows.shape),
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    )
    head = (
        b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        b"Inference-Header-Content-Length: %d\r\nContent-Length: %d\r\n%s\r\n"
        % (path, len(header), len(header) + len(raw), extra_headers)
    )
    return head + header


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP response from a raw socket: its head and its body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or pytest.fail(f"closed after {data[:200]!r}")
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line for line in head.lower().split(b"\r\n") if b"content-length" in line).split(b":")[
            1
        ]
    )
    while len(body) < length:
        body += sock.recv(65536) or pytest.fail("closed mid-body")
    return head, body


def test_a_big_body_waits_for_100_continue_and_is_read_whole(iris_server: ServedProcess) -> None:
    """A client that sends `Expect: 100-continue` (curl does past 1 MB) gets its go-ahead
    when the route asks for the body, then the body is read whole, sent in pieces."""
    rows = np.random.default_rng(3).uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], (5000, 4))
    request = big_v2_request(b"/v2/models/iris/infer", rows, b"Expect: 100-continue\r\n")
    head, _, json_part = request.partition(b"\r\n\r\n")
    raw = rows.astype("<f8").tobytes()
    with socket.create_connection(address(iris_server), timeout=15) as sock:
        sock.sendall(head + b"\r\n\r\n")
        go_ahead = sock.recv(65536)
        assert go_ahead.startswith(b"HTTP/1.1 100 Continue"), go_ahead[:100]
        body = json_part + raw
        for start in range(0, len(body), 7_000):  # in pieces, as a slow client sends
            sock.sendall(body[start : start + 7_000])
        status, answer = read_response(sock)
    assert status.startswith(b"HTTP/1.1 200"), answer[:300]
    labels = orjson.loads(answer)["outputs"][0]
    expected = httpx.post(
        iris_server.url + "/models/iris/predict/batch", json={"inputs": rows.tolist()}
    ).json()["predictions"]
    assert labels["name"] == "label"
    assert labels["data"] == [str(p["prediction"]) for p in expected]  # V2 labels are text


def test_a_big_body_that_stops_midway_is_closed(iris_server: ServedProcess) -> None:
    rows = np.zeros((5000, 4))
    with socket.create_connection(address(iris_server)) as sock:
        sock.sendall(big_v2_request(b"/v2/models/iris/infer", rows) + b"\0" * 100_000)
        assert wait_closed([sock], deadline_s=15) == 1  # the 2 s body timeout
    assert httpx.get(iris_server.url + "/health", timeout=5).status_code == 200
    assert "Traceback" not in iris_server.output()


def test_a_chunked_upload_stops_at_the_image_limit_without_spooling(
    iris_server: ServedProcess,
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
    assert list(SCRATCH[iris_server.url].iterdir()) == []  # nothing spooled to disk


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


def wait_logged(served: ServedProcess, text: str, timeout: float = 10) -> str:
    """The server's log once it holds `text` (access lines are written in batches)."""
    deadline = time.monotonic() + timeout
    while text not in (output := served.output()):
        assert time.monotonic() < deadline, f"{text!r} never logged"
        time.sleep(0.05)
    return output


def test_a_request_id_cannot_forge_access_log_fields(iris_server: ServedProcess) -> None:
    """An id with a space added `model=evil` to the line; only a token is kept (issue 34)."""
    answer = httpx.post(
        iris_server.url + "/predict",
        json={"features": [5.1, 3.5, 1.4, 0.2]},
        headers={"X-Request-ID": "x model=evil version=evil"},
    )
    assert answer.status_code == 200
    replaced = answer.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", replaced), replaced
    output = wait_logged(iris_server, f"request_id={replaced} ")
    assert "evil" not in output
    for kept in ("req-7:a/b", "0af7651916cd43dd8448eb211c80319c", "01J9Z3+x=@y.z"):
        echoed = httpx.get(iris_server.url + "/health", headers={"X-Request-ID": kept})
        assert echoed.headers["x-request-id"] == kept


def test_line_separators_and_bidi_overrides_are_escaped_in_the_log(
    iris_server: ServedProcess,
) -> None:
    response = httpx.get(iris_server.url + "/sep%E2%80%A8line%E2%80%AEreversed%E2%81%A6end")
    assert response.status_code == 404
    output = wait_logged(iris_server, "GET /sep")
    line = next(line for line in output.splitlines() if "GET /sep" in line)
    assert "/sep\\u2028line\\u202ereversed\\u2066end 404" in line
    assert not {"\u2028", "\u202e", "\u2066"} & set(output)


@pytest.mark.parametrize(
    "path", ["/health", "/ready", "/v2/health/live", "/v2/health/ready", "/docs"]
)
def test_head_on_the_probe_routes_answers_like_get_without_a_body(
    iris_server: ServedProcess, path: str
) -> None:
    """Load balancers and uptime checkers probe with HEAD (it answered 405)."""
    got = httpx.get(iris_server.url + path)
    with socket.create_connection(address(iris_server), timeout=10) as sock:
        # A HEAD, then a GET on the same connection: a body after the HEAD would be read
        # as the start of the second answer.
        sock.sendall(
            b"HEAD %s HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n"
            % path.encode()
        )
        data = b""
        while data.count(b"\r\n\r\n") < 2 or not data.endswith(b"}"):
            data += sock.recv(65536) or pytest.fail(f"closed after {data[:300]!r}")
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"content-length: %d" % len(got.content) in head.lower()
    assert rest.startswith(b"HTTP/1.1 200"), rest[:100]  # no body came between


def head_of(headers: int, header_bytes: int = 0) -> bytes:
    """A GET /health head with `headers` small headers and one of about `header_bytes`."""
    lines = [b"GET /health HTTP/1.1", b"Host: x"]
    lines += [b"X-H%d: v" % i for i in range(headers - 1 - bool(header_bytes))]
    if header_bytes:
        lines.append(b"Cookie: " + b"c" * header_bytes)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def answer_to(served: ServedProcess, request: bytes) -> tuple[bytes, bytes]:
    with socket.create_connection(address(served), timeout=10) as sock:
        sock.sendall(request)
        return read_response(sock)


def test_heads_over_the_size_or_count_limit_are_431(iris_server: ServedProcess) -> None:
    """The limits are 32 KiB and 100 header lines; a head within them is served."""
    for fits in (head_of(100), head_of(20, header_bytes=30_000)):
        status, _ = answer_to(iris_server, fits)
        assert status.startswith(b"HTTP/1.1 200"), status
    for over in (head_of(101), head_of(3, header_bytes=33_000)):
        status, body = answer_to(iris_server, over)
        assert status.startswith(b"HTTP/1.1 431"), status
        assert b"connection: close" in status.lower()
        assert orjson.loads(body)["error"] == "headers_too_large"
    # Sent in small pieces, as a slow client would: counted across them.
    with socket.create_connection(address(iris_server), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: ")
        with contextlib.suppress(OSError):  # the server closes once it is over
            for _ in range(100):
                sock.sendall(b"a" * 1000)
        status, _ = read_response(sock)
    assert status.startswith(b"HTTP/1.1 431"), status


def test_a_header_flood_does_not_stall_health(iris_server: ServedProcess) -> None:
    """Two clients each sending an 80 MB header, again as soon as they are closed: /health
    p99 stays under 100 ms (an 80 MB header stalled it 4.2 s, quadratic work on the loop)."""
    stop = threading.Event()
    sent = [0, 0]

    def flood(index: int) -> None:
        piece = b"a" * 65536
        while not stop.is_set():
            with socket.create_connection(address(iris_server)) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Flood: ")
                with contextlib.suppress(OSError):
                    for _ in range(80 * 16):
                        if stop.is_set():
                            break
                        sock.sendall(piece)
                        sent[index] += len(piece)

    flooders = [threading.Thread(target=flood, args=(i,), daemon=True) for i in range(2)]
    for flooder in flooders:
        flooder.start()
    try:
        wait_for(lambda: min(sent) > 0, timeout=10)
        latencies = health_latencies(iris_server.url, seconds=3)
    finally:
        stop.set()
        for flooder in flooders:
            flooder.join(timeout=30)
    p99 = latencies[int(len(latencies) * 0.99)]
    assert p99 < 0.1, f"/health p99 {p99 * 1000:.0f} ms under the flood ({len(latencies)} probes)"
    assert "Traceback" not in iris_server.output()


def test_5000_half_open_sockets_past_the_cap_do_not_stall_health(
    iris_server: ServedProcess,
) -> None:
    """Past max_connections (1,000 here) each newcomer closes the oldest half-open socket.
    That one stays among the server's connections until the loop reports it lost, and every
    newcomer accepted before then chose it again, scanning every connection each time (a
    red team saw /health stall 9.5 s; issue 34). Probed from another process, so that the
    timings are the server's and not this process's GIL, while the 5,000 are opened."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 12_000)), hard))
    sockets: list[socket.socket] = []
    opened = threading.Event()

    def open_half_open() -> None:
        """Non-blocking connects, as an attacker's event loop makes them: the server accepts
        them in bursts."""
        try:
            for _ in range(5000):
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(address(iris_server))
                sockets.append(sock)
            for sock in sockets:
                with contextlib.suppress(OSError):  # evicted already, or still connecting
                    sock.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never the blank line
        finally:
            opened.set()

    probe = subprocess.Popen(
        [sys.executable, "-m", "tests.transport.probe_health", iris_server.url, "3"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    opener = threading.Thread(target=open_half_open, daemon=True)
    try:
        assert probe.stdout is not None
        assert probe.stdout.readline().strip() == "probing"
        opener.start()
        assert opened.wait(timeout=60)
        latencies = sorted(json.loads(probe.stdout.readline()))
        p99 = latencies[int(len(latencies) * 0.99)]
        measured = f"/health p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
        assert len(latencies) >= 20, f"{len(latencies)} probes: {measured}"
        assert p99 < 0.1, f"{measured} ({len(latencies)} probes)"
    finally:
        probe.kill()
        probe.wait()
        opened.wait(timeout=60)
        for sock in sockets:
            sock.close()


@pytest.fixture(scope="module")
def keyed_server(
    samples: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedProcess]:
    folder = tmp_path_factory.mktemp("keyed")
    manifest = write_manifest(
        folder,
        f"""
server: {{api_key_env: TEST_PROTOCOL_KEYS}}
models:
  - {{name: iris, runtime: sklearn, path: {samples / "iris-v1.joblib"}}}
""",
    )
    with serving_process(str(manifest), env={"TEST_PROTOCOL_KEYS": "key-1"}) as served:
        yield served


@pytest.mark.parametrize(
    ("path", "key", "status"),
    [
        (b"/docs-assets/predict/batch", b"", b"401"),  # an open prefix, but not for a POST
        (b"/console-assets/predict", b"", b"401"),
        (b"/models/iris/predict/batch", b"", b"401"),
        (b"/models/nope/predict/batch", b"key-1", b"404"),  # unknown: known before the body
        (b"/docs-assets/predict/batch", b"key-1", b"404"),  # no model version "docs-assets"
        (b"/v2/models/nope/infer", b"key-1", b"404"),
    ],
)
def test_refused_requests_are_answered_before_their_body_is_read(
    keyed_server: ServedProcess, path: bytes, key: bytes, status: bytes
) -> None:
    """A 32 MiB body declared and never sent: the answer comes at once (issue 34: POSTs under
    /docs-assets/ were read and parsed with no key, 4 bodies cost 12.6 s of CPU)."""
    auth = b"Authorization: Bearer %s\r\n" % key if key else b""
    with socket.create_connection(address(keyed_server), timeout=5) as sock:
        sock.sendall(
            b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s"
            b"Content-Length: %d\r\n\r\n" % (path, auth, 32 * 1024 * 1024)
        )
        head, _ = read_response(sock)  # a socket timeout (5 s) if the server waits for a body
    assert head.startswith(b"HTTP/1.1 " + status), head


def test_bodies_in_flight_past_the_budget_are_503_before_they_are_read(
    iris_server: ServedProcess,
) -> None:
    """2,048 connections could each hold a body at the 32 MiB limit (issue 34). Here the
    budget is 3 MB: two 1.4 MB bodies being sent fit, a third is refused at once, and once
    one is done there is room again."""
    rows = np.random.default_rng(5).uniform(4, 7, (43_000, 4))  # 1.4 MB of FP64
    request = big_v2_request(b"/v2/models/iris/infer", rows)
    head, _, json_part = request.partition(b"\r\n\r\n")
    body = json_part + rows.astype("<f8").tobytes()
    sockets = [socket.create_connection(address(iris_server), timeout=15) for _ in range(3)]
    try:
        for sock in sockets[:2]:
            sock.sendall(head + b"\r\n\r\n" + body[:1000])  # and the rest later
        # Answered after the loop has started both requests (their tasks were queued first).
        assert httpx.get(iris_server.url + "/health", timeout=5).status_code == 200
        sockets[2].sendall(head + b"\r\n\r\n")
        status, answer = read_response(sockets[2])
        assert status.startswith(b"HTTP/1.1 503"), status
        assert b"retry-after: 1" in status.lower()
        assert b"max_bodies_in_flight_bytes" in answer
        sockets[0].sendall(body[1000:])
        finished, _ = read_response(sockets[0])
        assert finished.startswith(b"HTTP/1.1 200"), finished
        with socket.create_connection(address(iris_server), timeout=15) as again:
            again.sendall(request + rows.astype("<f8").tobytes())
            status, _ = read_response(again)
        assert status.startswith(b"HTTP/1.1 200"), status  # the first one's bytes came back
    finally:
        for sock in sockets:
            sock.close()
