"""A response's head and body in one write (mlserve.transport.onewrite): uvicorn's own cycle,
adopted as `GuardedHttpProtocol` adopts it, writing to a transport that records its writes.
(Every test that talks to a server goes through it too; these count the writes.)"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from mlserve.transport.onewrite import OneWriteCycle

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


class RecordingTransport:
    def __init__(self, closing: bool = False) -> None:
        self.writes: list[bytes] = []
        self.closed = closing

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def writelines(self, pieces: list[bytes]) -> None:  # one write: uvloop's writev
        self.writes.append(b"".join(pieces))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


def cycle(transport: RecordingTransport, method: str = "POST", keep_alive: bool = True) -> Any:
    scope = {"type": "http", "method": method, "path": "/predict", "headers": []}
    made = RequestResponseCycle(
        scope=scope,  # type: ignore[arg-type]
        transport=transport,  # type: ignore[arg-type]
        flow=FlowControl(transport),  # type: ignore[arg-type]
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: None,
    )
    OneWriteCycle.adopt(made)
    return made


def start(length: int | None) -> dict[str, Any]:
    headers = [(b"content-type", b"application/json")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http.response.start", "status": 200, "headers": headers}


def body(data: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


async def test_a_response_is_one_write() -> None:
    transport = RecordingTransport()
    answer = cycle(transport)
    await answer.send(start(11))
    assert transport.writes == []  # the head waits for its body
    await answer.send(body(b'{"ok":true}'))
    assert len(transport.writes) == 1
    head, _, sent = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"content-length: 11" in head
    assert sent == b'{"ok":true}'
    assert answer.response_complete
    assert answer.transport is transport


async def test_a_closing_connection_gets_its_answer_before_the_close() -> None:
    transport = RecordingTransport()
    answer = cycle(transport, keep_alive=False)
    await answer.send(start(2))
    await answer.send(body(b"{}"))
    assert len(transport.writes) == 1
    assert transport.writes[0].endswith(b"\r\n\r\n{}")
    assert transport.closed


async def test_a_head_request_gets_its_head_alone() -> None:
    transport = RecordingTransport()
    answer = cycle(transport, method="HEAD")
    await answer.send(start(2))
    await answer.send(body(b"{}"))
    assert len(transport.writes) == 1
    assert transport.writes[0].endswith(b"\r\n\r\n")


async def test_a_stream_sends_its_head_with_the_first_chunk_then_each_chunk() -> None:
    transport = RecordingTransport()
    answer = cycle(transport)
    await answer.send(start(None))  # no length: chunked
    await answer.send(body(b"first", more=True))
    await answer.send(body(b"second", more=True))
    await answer.send(body(b""))
    assert len(transport.writes) == 3
    assert transport.writes[0].endswith(b"\r\n\r\n5\r\nfirst\r\n")
    assert transport.writes[1:] == [b"6\r\nsecond\r\n", b"0\r\n\r\n"]


async def test_nothing_is_written_once_the_client_has_left() -> None:
    transport = RecordingTransport()
    answer = cycle(transport)
    await answer.send(start(2))
    transport.closed = True  # the client went away between the head and the body
    await answer.send(body(b"{}"))
    assert transport.writes == []


async def test_a_bad_message_releases_the_head() -> None:
    transport = RecordingTransport()
    answer = cycle(transport)
    await answer.send(start(2))
    with pytest.raises(RuntimeError):
        await answer.send(body(b"too long"))  # over its Content-Length
    assert answer.transport is transport  # uvicorn closes the real connection after this
