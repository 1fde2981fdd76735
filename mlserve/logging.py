"""Logging set-up for `mlserve serve`; called once at start, never at import."""

from __future__ import annotations

from typing import Any


def log_config(level: str = "info") -> dict[str, Any]:
    """A dictConfig for uvicorn and mlserve alike: one format, everything on stderr."""
    level = level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "text", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"text": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "mlserve": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            # mlserve.access replaces uvicorn's access log (it adds the request id).
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
