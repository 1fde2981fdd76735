"""A response's head and body written to the socket together.

uvicorn writes a response's head when the app starts it and its body when the app sends it:
two writes, two system calls and two segments over the wire for every small answer, a large
share of a one-row request's time on the event loop. Here the head is held from the start
message to the first body message, and both go out in one write.

An app that starts a response and only later sends its first body chunk (a stream that
waits for its first event) would hold its head that long; mlserve's routes send both at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle


class HeldWrites:
    """The connection's transport, holding what is written to it until `release`."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.held: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.held.append(data)

    def release(self) -> asyncio.Transport:
        """Write what was held, in one write, and hand back the transport."""
        if self.held and not self.transport.is_closing():  # not after the client left
            # uvloop sends the pieces with one writev, without joining (copying) a big body
            self.transport.writelines(self.held)
        self.held = []
        return self.transport

    def close(self) -> None:  # uvicorn closes after the body of a `Connection: close` request
        self.release().close()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, ...
        return getattr(self.transport, name)


class OneWriteCycle(RequestResponseCycle):
    """uvicorn's request-response cycle, writing each response's head with its body."""

    async def send(self, message: ASGISendEvent) -> None:
        starting = message["type"] == "http.response.start" and not self._holding
        if starting:
            self.transport = HeldWrites(self.transport)  # type: ignore[assignment]
        try:
            await super().send(message)
        except BaseException:
            self._release()
            raise
        if not starting:
            self._release()

    @property
    def _holding(self) -> bool:
        return isinstance(self.transport, HeldWrites)

    def _release(self) -> None:
        if isinstance(self.transport, HeldWrites):
            self.transport = self.transport.release()

    @classmethod
    def adopt(cls, cycle: RequestResponseCycle) -> None:
        """Make a cycle uvicorn created one of these (same state: no attribute is added)."""
        cycle.__class__ = cls
