"""uvicorn's HTTP protocols with the connection limits they lack.

uvicorn times out idle keep-alive connections, but not a connection that never finishes its
headers, nor one that sends less body than its Content-Length: a few thousand such sockets
(slowloris) hold the server's file descriptors until `/health` stops answering, and no API
key helps, since keys are checked after the headers. `ConnectionGuard`, mixed into either of
uvicorn's protocols (httptools or h11: `--http`),

- closes a connection whose request headers are not complete `header_timeout_s` after its
  first byte (or after it connected),
- closes one whose body is not complete `body_timeout_s` after its headers, and
- answers 431 and closes a connection whose request line and headers pass `max_head_bytes`
  or `max_headers` lines, counted on the raw bytes before the parser sees them (the parsers'
  callbacks join a long head piece by piece: an 80 MB header was quadratic work on the event
  loop, before any key is checked),
- at `max_connections` open connections, closes the oldest one that is idle or still sending
  headers to make room (uvicorn's own `limit_concurrency` would answer 503 instead, to
  probes too); only when every connection is busy with a request is the newcomer closed.
  The candidates wait in one insertion-ordered dict per server (oldest first), so making
  room costs O(1) per newcomer, not a scan of every connection; one already closing (it
  stays among the server's connections until the loop reports it lost) is never chosen.

Over httptools the protocol also reads the big bodies an app asks for whole (see
`wholebody`) and writes each response's head with its body (see `onewrite`); both rest on
httptools' cycle, and h11 serves without them.

Invariants: a connection is in its server's `mlserve_evictable` dict exactly while it is
open and sending headers or between requests, placed there when it became so (so the dict's
order is the order of `_idle_since`). A connection has at most one deadline, a number
checked by one sweep of the open connections a few times per timeout (no timer handle per
request); `_deadline is None` exactly while a request's body is complete and its answer is
being made, or after close.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlserve.errors import HeadTooLarge
from mlserve.transport.onewrite import OneWriteCycle
from mlserve.transport.wholebody import WholeBody

log = logging.getLogger("mlserve.server")
WARN_EVERY_S = 10.0


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    max_connections: int = 2048
    max_body_bytes: int = 32 * 1024 * 1024  # the largest body a connection reads whole
    max_head_bytes: int = 32 * 1024  # the request line and headers (as nginx's default)
    max_headers: int = 100  # header lines (as Apache's LimitRequestFields)


_HEAD_END = b"\r\n\r\n"
_TOO_LARGE = HeadTooLarge("the request line and headers are over the server's limit")
REFUSED_HEAD = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
    % (len(orjson.dumps(_TOO_LARGE.to_body())), orjson.dumps(_TOO_LARGE.to_body()))
)


class ConnectionGuard:
    """The deadlines and the connection cap, for a uvicorn protocol class to mix in. The
    protocol calls `_guard_connected`, `_expect_headers`, `_headers_complete`,
    `_body_complete`, `_response_complete` and `_disarm` at those moments."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    _warned_at: ClassVar[float] = float("-inf")
    if TYPE_CHECKING:  # what the uvicorn protocol it is mixed into provides
        loop: asyncio.AbstractEventLoop
        transport: asyncio.Transport
        connections: set[Any]
        server_state: Any
        cycle: Any

    @classmethod
    def configure(cls, limits: ConnectionLimits) -> None:
        """Set the limits of every connection this process accepts from now on."""
        ConnectionGuard.limits = limits

    def _guard_connected(self) -> None:
        self._deadline: float | None = None  # loop time
        self._sending_headers = False
        self._idle_since = self.loop.time()
        self._expect_headers()
        if not hasattr(self.server_state, "mlserve_evictable"):
            self.server_state.mlserve_evictable = {}
        self._evictable_now()
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def _evictable_now(self) -> None:
        evictable: dict[ConnectionGuard, None] = self.server_state.mlserve_evictable
        evictable.pop(self, None)
        evictable[self] = None  # the newest idle one

    def _busy_now(self) -> None:
        self.server_state.mlserve_evictable.pop(self, None)

    def _expect_headers(self) -> None:
        self._sending_headers = True
        self._head_bytes = self._head_lines = 0  # of this request's head, before this chunk
        self._head_tail = b""  # the last bytes of the head so far: "\r\n\r\n" may straddle
        self._arm(self.limits.header_timeout_s)

    def _head_fits(self, data: bytes) -> bool:
        """Count the head bytes and lines that `data` adds, while headers are being sent;
        False (and the connection answered 431 and closed) once either is over its limit.
        Bytes after the head's end (the body, a pipelined request) are not counted."""
        if not self._sending_headers:
            return True
        tail = self._head_tail
        seen = tail + data if tail else data  # no copy for a head that fits one chunk
        end = seen.find(_HEAD_END)
        head = len(seen) if end < 0 else end
        self._head_bytes += head - len(tail)
        self._head_lines += seen.count(b"\n", len(tail), head)
        limits = self.limits
        if self._head_bytes > limits.max_head_bytes or self._head_lines > limits.max_headers:
            self._sending_headers = False
            self._disarm()
            if not self.transport.is_closing():
                self.transport.write(REFUSED_HEAD)
                self.transport.close()
            return False
        self._head_tail = seen[-3:] if end < 0 else b""
        return True

    def _headers_complete(self) -> None:
        self._sending_headers = False
        self._busy_now()  # a request is being answered: closing it would lose the answer
        self._arm(self.limits.body_timeout_s)  # disarmed when the body is complete

    def _body_complete(self) -> None:
        self._disarm()

    def _response_complete(self) -> None:
        self._idle_since = self.loop.time()
        self._evictable_now()

    def _arm(self, seconds: float) -> None:
        self._deadline = self.loop.time() + seconds
        state = self.server_state
        if not getattr(state, "mlserve_sweeping", False):
            state.mlserve_sweeping = True
            self.loop.call_later(self._sweep_every(), self._sweep)

    def _disarm(self) -> None:
        self._deadline = None

    def _sweep(self) -> None:
        """Close every connection of this server past its deadline; go on while any is open."""
        state = self.server_state
        now = self.loop.time()
        for connection in list(state.connections):
            if (
                isinstance(connection, ConnectionGuard)
                and connection._deadline is not None
                and now >= connection._deadline
            ):
                connection._expire()
        if state.connections:
            self.loop.call_later(self._sweep_every(), self._sweep)
        else:
            state.mlserve_sweeping = False

    def _sweep_every(self) -> float:
        """A few sweeps per timeout: a connection is closed at most a fifth of its timeout late."""
        shortest = min(self.limits.header_timeout_s, self.limits.body_timeout_s)
        return min(max(shortest / 5, 0.01), 1.0)

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log.debug("closed a connection that did not send its request in time")
            self.transport.close()

    def _make_room(self) -> None:
        evictable: dict[ConnectionGuard, None] = self.server_state.mlserve_evictable
        victim = self
        for candidate in list(itertools.islice(evictable, 64)):
            evictable.pop(candidate)
            if candidate is not self and not candidate.transport.is_closing():
                victim = candidate
                break
        else:  # the oldest 64 were all closing (or self): the newcomer is refused
            evictable.pop(self, None)
        now = self.loop.time()
        if now - ConnectionGuard._warned_at > WARN_EVERY_S:  # one line, not thousands
            ConnectionGuard._warned_at = now
            log.warning(
                "%d connections open (limit %d): closing the oldest idle ones",
                len(self.connections),
                self.limits.max_connections,
            )
        victim.transport.close()


class GuardedHttpProtocol(ConnectionGuard, HttpToolsProtocol):
    """httptools, guarded; with whole-body reads and one write per small response."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._whole: WholeBody | None = None  # the current request's, when read whole
        super().connection_made(transport)
        self._guard_connected()

    def data_received(self, data: bytes) -> None:
        if self._head_fits(data):
            super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._sending_headers:  # the next request on a kept-alive connection
            self._expect_headers()

    def on_headers_complete(self) -> None:
        self._headers_complete()
        previous = self.cycle
        super().on_headers_complete()
        self._whole = None
        if self.cycle is not previous:  # a request started (not an upgrade)
            OneWriteCycle.adopt(self.cycle)
            self._whole = WholeBody.attach(self.cycle, self.limits.max_body_bytes)

    def on_body(self, body: bytes) -> None:
        whole = self._whole
        if whole is not None and whole.reading and not self.cycle.response_complete:
            whole.write(body)  # no pause at 64 KiB: the app waits for the whole body anyway
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._body_complete()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._response_complete()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._busy_now()  # gone: no longer a candidate
        super().connection_lost(exc)


class GuardedH11Protocol(ConnectionGuard, H11Protocol):
    """h11, guarded. h11 has no per-event callbacks: the moments are read off the request
    cycle around each batch of events (a new cycle: headers complete; `more_body` false:
    body complete)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._guard_connected()

    def data_received(self, data: bytes) -> None:
        between = self.cycle is None or self.cycle.response_complete
        if between and not self._sending_headers:  # the next request's first byte
            self._expect_headers()
        if self._head_fits(data):
            super().data_received(data)

    def handle_events(self) -> None:
        previous = self.cycle
        super().handle_events()
        cycle = self.cycle
        if cycle is None:
            return
        if cycle is not previous:
            self._headers_complete()
        if not cycle.more_body and self._deadline is not None and not self._sending_headers:
            self._body_complete()

    def on_response_complete(self) -> None:
        self._response_complete()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._busy_now()  # gone: no longer a candidate
        super().connection_lost(exc)


# `--http` choices: uvicorn's protocol class for each, as an import string.
PROTOCOLS = {
    "httptools": "mlserve.transport.protocol:GuardedHttpProtocol",
    "h11": "mlserve.transport.protocol:GuardedH11Protocol",
}


def protocol_for(http: str) -> str:
    """The guarded protocol for `--http auto|httptools|h11` (auto: httptools if installed)."""
    if http == "auto":
        http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return PROTOCOLS[http]
