"""The documented Python client: `mlserve.Client` and `mlserve.AsyncClient` with named methods,
numpy and pandas inputs, typed errors and retries, against the real sample server (and a fake
one for the failures a real server will not produce on demand)."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlserve
from mlserve.errors import ModelNotFound, SchemaViolation, ServerTimeout, Unavailable
from tests.support import fake_server

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])


def test_named_methods_with_numpy_and_pandas(live_server: str, samples: Path) -> None:
    with mlserve.Client(live_server.removeprefix("http://")) as client:
        assert client.predict(ROWS[0], model="iris")["prediction"] == "setosa"
        assert client.predict([6.7, 3.0, 5.2, 2.3], model="iris:v1")["version"] == "v1"
        batch = client.predict_batch(ROWS, model="iris")
        assert [p["prediction"] for p in batch["predictions"]] == ["setosa", "virginica"]
        frame = pd.DataFrame({"credit_score": [710, 400], "age": [42, 30], "income": [52000, 1000]})
        named = client.predict_batch(frame, model="credit")  # columns matched by name
        one = client.predict({"age": 42, "income": 52000, "credit_score": 710}, model="credit")
        assert named["predictions"][0]["prediction"] == one["prediction"]
        text = client.classify("I loved this film")
        assert (text["model"], text["label"]) == ("sentiment", "positive")
        assert len(client.classify(["great", "awful"])["predictions"]) == 2
        assert client.predict_image(samples / "digits" / "7.png")["prediction"] == "7"
        assert {m["model"] for m in client.info()["models"]} >= {"iris", "credit"}


def test_typed_errors(live_server: str) -> None:
    with mlserve.Client(live_server) as client:
        with pytest.raises(ModelNotFound, match="unknown model 'nope'"):
            client.predict([1, 2, 3, 4], model="nope")
        with pytest.raises(SchemaViolation, match="must be >= 18"):
            client.predict({"age": 12, "income": 1, "credit_score": 700}, model="credit")


def test_async_client(live_server: str) -> None:
    async def main() -> list[str]:
        async with mlserve.AsyncClient(live_server) as client:
            answers = await asyncio.gather(*(client.predict(row, model="iris") for row in ROWS))
        return [a["prediction"] for a in answers]

    assert asyncio.run(main()) == ["setosa", "virginica"]


def busy_then_ok(refusals: int) -> tuple[list[float], Callable[[socket.socket], None]]:
    """A server that answers 503 + Retry-After `refusals` times, then a prediction."""
    seen: list[float] = []

    def reply(conn: socket.socket) -> None:
        seen.append(time.monotonic())
        if len(seen) <= refusals:
            body = b'{"error": "overloaded", "message": "busy"}'
            head = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
        else:
            body = b'{"model": "m", "version": "v1", "prediction": 1}'
            head = b"HTTP/1.1 200 OK\r\n"
        conn.sendall(
            head + b"Content-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )

    return seen, reply


def test_retries_follow_retry_after() -> None:
    seen, reply = busy_then_ok(2)
    with fake_server(reply) as url, mlserve.Client(url, retries=5) as client:
        assert client.predict([1.0])["prediction"] == 1
        assert client.retried == 2
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    assert all(gap >= 0.95 for gap in gaps), gaps  # waited as the server asked


def test_retries_are_bounded_and_4xx_is_never_retried(live_server: str) -> None:
    seen, reply = busy_then_ok(100)
    with (
        fake_server(reply) as url,
        mlserve.Client(url, retries=1) as client,
        pytest.raises(mlserve.MlserveError, match=r"busy \(gave up after 1 retries"),
    ):
        client.predict([1.0])
    assert len(seen) == 2
    with mlserve.Client(live_server, retries=5) as client:
        with pytest.raises(ModelNotFound):
            client.predict([1.0], model="nope")
        assert client.retried == 0


def test_the_timeout_is_a_total_deadline() -> None:
    def trickle(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n")
        for _ in range(50):
            conn.sendall(b" ")
            time.sleep(0.2)  # each read is quick; the whole answer is not

    with fake_server(trickle) as url, mlserve.Client(url, timeout=1, retries=0) as client:
        started = time.monotonic()
        with pytest.raises(ServerTimeout, match="within 1s"):
            client.predict([1.0])
        assert time.monotonic() - started < 3


def test_a_proxy_503_is_retried_then_reported() -> None:
    def proxy(conn: socket.socket) -> None:
        head = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close"
        conn.sendall(head + b"\r\n\r\nbusy")

    with fake_server(proxy) as url, mlserve.Client(url, retries=1) as client:
        with pytest.raises(Unavailable, match="HTTP 503"):
            client.predict([1.0])
        assert client.retried == 1
