"""The wire's floor for big V2 binary requests: an HTTP/1.1 server that only moves the bytes.

    python -m bench.wire_floor --port 8000

It reads each request's Content-Length bytes straight from the socket into one buffer that
it keeps from request to request, and answers with as many bytes as the request's
`x-answer-bytes` header asks for (the bench sends the size of mlserve's answer to the same
request), from a cache. No HTTP framework, no ASGI, no allocation per request: what is left
is loopback TCP and the client. (A bare ASGI app on uvicorn is no floor at this size: its
body handling allocates, and page-faults in, several fresh megabytes per request.)
"""

from __future__ import annotations

import argparse
import asyncio
from typing import cast

import uvloop

HEAD_END = b"\r\n\r\n"


class Floor(asyncio.BufferedProtocol):
    def __init__(self) -> None:
        self.buffer = bytearray(1 << 20)
        self.view = memoryview(self.buffer)
        self.filled = 0  # bytes of the current request (and any after it) received
        self.end = 0  # where the current request ends, once its head is read
        self.answer_size = 0
        self.answers: dict[int, bytes] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def get_buffer(self, sizehint: int) -> memoryview:
        if len(self.buffer) - self.filled < 1 << 16:
            self._grow(2 * len(self.buffer))
        return self.view[self.filled :]

    def buffer_updated(self, nbytes: int) -> None:
        self.filled += nbytes
        while self._request_complete():
            self.transport.write(self._answer(self.answer_size))
            rest = self.filled - self.end
            self.buffer[:rest] = self.buffer[self.end : self.filled]
            self.filled, self.end = rest, 0

    def _request_complete(self) -> bool:
        if not self.end:
            head_end = self.buffer.find(HEAD_END, 0, self.filled)
            if head_end < 0:
                return False
            headers = dict(
                line.split(b":", 1)
                for line in bytes(self.buffer[:head_end]).lower().split(b"\r\n")[1:]
            )
            self.answer_size = int(headers.get(b"x-answer-bytes", b"0"))
            self.end = head_end + len(HEAD_END) + int(headers.get(b"content-length", b"0"))
            if self.end > len(self.buffer):
                self._grow(self.end)
        return self.filled >= self.end

    def _grow(self, size: int) -> None:
        self.view.release()
        bigger = bytearray(size)
        bigger[: self.filled] = self.buffer[: self.filled]
        self.buffer, self.view = bigger, memoryview(bigger)

    def _answer(self, size: int) -> bytes:
        if size not in self.answers:
            head = (
                b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
                b"content-length: %d\r\n\r\n" % size
            )
            self.answers[size] = head + bytes(size)
        return self.answers[size]


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Floor, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
