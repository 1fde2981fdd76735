"""Big request bodies read by the connection into one buffer and handed to the app at once.

uvicorn hands a body to the app in pieces: it pauses the socket whenever 64 KiB wait unread,
wakes the app once per piece and copies each piece twice (into its buffer, then out as
`bytes`) before the route copies it a third time into its own: for a big tensor, more
server time than the model call itself. For the routes that read their whole body before
anything else (predictions, V2 inference), the connection instead writes the body, as it
arrives, into one buffer of the declared Content-Length, placed as `body.receive_bytes`
would place it (a V2 body's binary part 64-byte aligned), and wakes the app once, with a
`memoryview` of it.

It starts only when the app first asks for the body, and only if the app said, by setting
`bodies.WHOLE_BODY_SCOPE_KEY` in the request's scope, that it reads the body whole and takes
a memoryview: the transport knows nothing of the app's routes. A request refused on its
headers (a wrong API key, an unknown model, a body over the limit) never buffers more than
uvicorn's 64 KiB, and no body bigger than the server's limit is ever taken in this way.
"""

from __future__ import annotations

import weakref
from typing import Final, cast

from starlette.types import Scope
from uvicorn._types import ASGIReceiveEvent
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from mlserve.bodies import WHOLE_BODY_SCOPE_KEY, aligned_buffer, header

# Below uvicorn's high-water mark a body comes in one or two pieces anyway.
SMALLEST: Final = HIGH_WATER_LIMIT
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"


class WholeBody:
    """One request's body, read into one buffer once its app asks for it."""

    def __init__(self, cycle: RequestResponseCycle, size: int) -> None:
        # Weakly: the cycle holds our `receive`, and a reference cycle would keep each big
        # buffer alive until the garbage collector came upon it (hundreds of them under load).
        self._cycle = weakref.ref(cycle)
        self.size = size
        self.buffer: memoryview | None = None  # set when the app first asks
        self.filled = 0
        self.delivered = False

    @classmethod
    def attach(cls, cycle: RequestResponseCycle, limit: int) -> WholeBody | None:
        """A reader for this request's body, now the cycle's `receive`, if it may be read
        whole: a POST declaring a body of 64 KiB up to `limit`."""
        scope = cast(Scope, cycle.scope)  # a TypedDict of uvicorn's; `header` takes any scope
        if scope["method"] != "POST":
            return None
        declared = header(scope, b"content-length") or ""
        if not declared.isdigit() or not SMALLEST <= int(declared) <= limit:
            return None
        whole = cls(cycle, int(declared))
        cycle.receive = whole.receive  # type: ignore[method-assign]
        return whole

    @property
    def reading(self) -> bool:
        """Whether the connection writes the body's bytes here (else into uvicorn's buffer)."""
        return self.buffer is not None and not self.delivered

    def write(self, chunk: bytes | bytearray) -> None:
        assert self.buffer is not None
        end = self.filled + len(chunk)
        # httptools ends a body at its Content-Length, so `end` never passes the size.
        self.buffer[self.filled : end] = chunk
        self.filled = end

    @property
    def cycle(self) -> RequestResponseCycle:
        cycle = self._cycle()
        assert cycle is not None, "a request's cycle outlives its app's calls to receive"
        return cycle

    async def receive(self) -> ASGIReceiveEvent:
        cycle = self.cycle
        if self.delivered or cycle.disconnected or cycle.response_complete:
            return await RequestResponseCycle.receive(cycle)  # waits for the disconnect
        if self.buffer is None:
            align_at = cycle.scope.get(WHOLE_BODY_SCOPE_KEY)
            if not isinstance(align_at, int):  # the app reads this body its own way
                self.delivered = True
                return await RequestResponseCycle.receive(cycle)
            self._start(align_at)
        while cycle.more_body and not (cycle.disconnected or cycle.response_complete):
            cycle.flow.resume_reading()
            await cycle.message_event.wait()
            cycle.message_event.clear()
        if cycle.disconnected or cycle.response_complete:
            return {"type": "http.disconnect"}
        self.delivered = True
        assert self.buffer is not None
        # A view, where ASGI says bytes: only routes that read with `receive_bytes` get one.
        # The app owns it from now on; the connection keeps nothing of it.
        body, self.buffer = self.buffer[: self.filled], None
        return {"type": "http.request", "body": body, "more_body": False}  # type: ignore[typeddict-item]

    def _start(self, align_at: int) -> None:
        cycle = self.cycle
        if cycle.waiting_for_100_continue and not cycle.transport.is_closing():
            cycle.transport.write(CONTINUE)  # as uvicorn's own receive does
            cycle.waiting_for_100_continue = False
        self.buffer = aligned_buffer(self.size, align_at)
        self.write(cycle.body)  # what came before the app asked (at most ~64 KiB)
        cycle.body = bytearray()
