"""Logging set-up for `mlserve serve`; called once at start, never at import.

`text` is one readable line per event; `json` is one JSON object per line with the event's
fields (request_id, model, version, rows, status, latency_ms, ...) as keys, for log pipelines.
Input data is never logged.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any, Literal, NamedTuple, Protocol

import orjson

LogFormat = Literal["text", "json"]
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


# Characters that change how a log line reads: the line and paragraph separators (U+2028/9,
# line breaks to many log viewers) and the bidirectional embeddings, overrides and isolates
# (U+202A-E, U+2066-9: `evil\u202e` shows the rest of a line reversed).
_UNSAFE_IN_VIEWERS = (0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
# C0 controls, DEL and C1 controls (a `%0a` in a path must not start a forged line), and those.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f" + "".join(map(chr, _UNSAFE_IN_VIEWERS)) + "]")
# JSON escapes C0 controls itself but leaves these raw (valid JSON); they can only stand inside
# a JSON string, where \uXXXX is the same character to a parser.
_JSON_UNSAFE = {c: f"\\u{c:04x}" for c in _UNSAFE_IN_VIEWERS}


def escape_controls(text: str) -> str:
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _json_line(event: dict[str, Any], default: Any = None) -> str:
    line = orjson.dumps(event, default=default).decode()
    return line if line.isascii() else line.translate(_JSON_UNSAFE)


ACCESS_LOGGER = "mlserve.access"


# What a request hands the access log: (request_id, method, path, status, seconds, model,
# version, rows), a plain tuple (the cheapest object to make, and one the garbage collector
# untracks); the line's AccessEvent is made from it when the line is written.
AccessFields = tuple[str, str, str, int, float, "str | None", "str | None", "int | None"]


class AccessEvent(NamedTuple):
    """What the access line of one request says (also the JSON format's fields)."""

    request_id: str
    method: str
    path: str
    status: int
    latency_ms: float
    model: str | None
    version: str | None
    rows: int | None

    @classmethod
    def of(cls, fields: AccessFields) -> AccessEvent:
        request_id, method, path, status, seconds, model, version, rows = fields
        latency_ms = round(seconds * 1000, 2)
        return cls(request_id, method, path, status, latency_ms, model, version, rows)

    def message(self) -> str:
        return (
            f"{self.method} {self.path} {self.status} request_id={self.request_id} "
            f"model={self.model} version={self.version} rows={self.rows} "
            f"latency_ms={self.latency_ms:.2f}"
        )


class AccessFormatter(Protocol):
    def format_access(self, event: AccessEvent, created: float) -> str: ...


class TextFormatter(logging.Formatter):
    """One line per event: control characters in the message (request paths, headers) are
    escaped; only a traceback, which the server writes itself, spans several lines."""

    _second = -1
    _stamp = ""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))

    def format_access(self, event: AccessEvent, created: float) -> str:
        """The line `format` would give the access record, without building the record:
        the timestamp's seconds are formatted once per second, not once per request."""
        second = int(created)
        if second != self._second:
            self._second, self._stamp = second, self.formatTime(_record_at(second))[:-4]
        millis = int((created - second) * 1000)
        line = f"{self._stamp},{millis:03d} INFO    {ACCESS_LOGGER}: {event.message()}"
        return line if line.isprintable() else escape_controls(line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = _json_head(record.created, record.levelname, record.name)
        event["message"] = record.getMessage()
        event.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            event["traceback"] = self.formatException(record.exc_info)
        return _json_line(event, default=str)

    def format_access(self, event: AccessEvent, created: float) -> str:
        line = _json_head(created, "INFO", ACCESS_LOGGER)
        line["message"] = event.message()
        line.update(event._asdict())
        return _json_line(line)


def _json_head(created: float, level: str, logger: str) -> dict[str, Any]:
    millis = int((created - int(created)) * 1000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return {"time": f"{stamp}.{millis:03d}Z", "level": level.lower(), "logger": logger}


def _record_at(second: int) -> logging.LogRecord:
    record = logging.LogRecord(ACCESS_LOGGER, logging.INFO, "", 0, "", (), None)
    record.created, record.msecs = float(second), 0.0
    return record


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr for every logger, plus a cheap path for access lines: one line per request,
    formatted without a LogRecord, and written in batches (one write per FLUSH_AFTER_S on the
    event loop, not one per request).

    A request hands over its fields as a plain tuple, which waits with its time, and the waiting
    lines are made and formatted together when they are written: one after the other, that code
    stays in the CPU's caches, where one line made between two requests finds it cold. A plain tuple
    of strings and numbers, unlike a named tuple, is untracked by the garbage collector's first
    young collection, so waiting lines are not promoted to the older generations. Any other record
    writes the waiting lines first, so the log stays in order; `flush` (also called at exit) writes
    them too."""

    FLUSH_AFTER_S = 0.1
    MAX_WAITING = 256

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._waiting: list[tuple[float, AccessFields]] = []  # (time, the request's fields)
        self._timer: asyncio.TimerHandle | None = None

    def access(self, fields: AccessFields) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._waiting.append((time.time(), fields))
            if len(self._waiting) < self.MAX_WAITING and self._flush_later():
                return
            self._write_waiting()

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_waiting()
        super().emit(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_waiting()
        super().flush()

    def _flush_later(self) -> bool:
        """Arm the timer that writes the waiting lines; False where there is no event loop."""
        if self._timer is not None:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._timer = loop.call_later(self.FLUSH_AFTER_S, self.flush)
        return True

    def _write_waiting(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._waiting:
            return
        waiting, self._waiting = self._waiting, []
        formatter: AccessFormatter = self.formatter  # type: ignore[assignment]
        lines = []
        for created, fields in waiting:
            try:
                lines.append(formatter.format_access(AccessEvent.of(fields), created))
            except Exception:  # a line that cannot be formatted must not cost the others
                self.handleError(_record_at(int(created)))
        try:
            lines.append("")  # the last line's newline
            self.stream.write("\n".join(lines))
            self.stream.flush()
        except Exception:  # a broken stderr must not fail a request
            self.handleError(_record_at(int(time.time())))


def access_writer() -> Any:
    """The cheapest way to write an access line under the current logging set-up: the
    LineHandler's own path when it is the access logger's only handler (as `log_config`
    sets it up), else a plain INFO record for whatever handlers the embedder configured.
    None when access lines are off."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not logger.isEnabledFor(logging.INFO):
        return None
    handlers = logger.handlers
    if (
        len(handlers) == 1
        and isinstance(handlers[0], LineHandler)
        and hasattr(handlers[0].formatter, "format_access")
        and not logger.filters
        and not handlers[0].filters
        and not logger.propagate
    ):
        return handlers[0].access

    def as_record(fields: AccessFields) -> None:
        event = AccessEvent.of(fields)
        logger.info("%s", event.message(), extra=event._asdict())

    return as_record


def log_config(level: str = "info", fmt: LogFormat = "text") -> dict[str, Any]:
    """A dictConfig for uvicorn and mlserve alike: one format, everything on stderr."""
    level = level.upper()
    formatters = {
        "text": {
            "()": "mlserve.server.logs.TextFormatter",
            "fmt": "%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        },
        "json": {"()": "mlserve.server.logs.JsonFormatter"},
    }
    handler = {
        "class": "mlserve.server.logs.LineHandler",
        "formatter": fmt,
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {fmt: formatters[fmt]},
        "handlers": {"stderr": handler},
        "loggers": {
            "mlserve": {"handlers": ["stderr"], "level": level, "propagate": False},
            ACCESS_LOGGER: {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            # mlserve.access replaces uvicorn's access log (it adds request id and model).
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
