"""Logging set-up for `mlserve serve`; called once at start, never at import.

`text` is one readable line per event; `json` is one JSON object per line with the event's
fields (request_id, model, version, rows, status, latency_ms, ...) as keys, for log pipelines.
Input data is never logged.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Literal

import orjson

LogFormat = Literal["text", "json"]
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


# C0 controls, DEL and C1 controls: a `%0a` in a path must not start a forged log line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class TextFormatter(logging.Formatter):
    """One line per event: control characters in the message (request paths, headers) are
    escaped; only a traceback, which the server writes itself, spans several lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        event.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            event["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(event, default=str).decode()


def log_config(level: str = "info", fmt: LogFormat = "text") -> dict[str, Any]:
    """A dictConfig for uvicorn and mlserve alike: one format, everything on stderr."""
    level = level.upper()
    formatters = {
        "text": {
            "()": "mlserve.logging.TextFormatter",
            "fmt": "%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        },
        "json": {"()": "mlserve.logging.JsonFormatter"},
    }
    handler = {"class": "logging.StreamHandler", "formatter": fmt, "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {fmt: formatters[fmt]},
        "handlers": {"stderr": handler},
        "loggers": {
            "mlserve": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            # mlserve.access replaces uvicorn's access log (it adds request id and model).
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
