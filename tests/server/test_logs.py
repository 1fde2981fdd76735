"""The access-line path: same text as a logging record would give, written in batches, in order."""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import logging.config
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from mlserve.server.logs import (
    ACCESS_LOGGER,
    AccessEvent,
    AccessFields,
    JsonFormatter,
    LineHandler,
    TextFormatter,
    access_writer,
    log_config,
)
from tests.support import write_manifest

pytestmark = pytest.mark.unit

FIELDS: AccessFields = ("abc123", "POST", "/models/iris/predict", 200, 0.00123, "iris", "v1", 3)
EVENT = AccessEvent.of(FIELDS)
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def _record(event: AccessEvent, created: float) -> logging.LogRecord:
    # The LogRecord class itself, not the record factory (which Ray, once imported, extends).
    record = logging.LogRecord(ACCESS_LOGGER, logging.INFO, "", 0, event.message(), (), None)
    record.__dict__.update(event._asdict())
    record.created = created
    record.msecs = (created - int(created)) * 1000
    return record


@pytest.mark.parametrize("created", [1_780_000_000.0, 1_780_000_000.5, 1_780_000_001.999])
def test_text_access_line_equals_the_formatted_record(created: float) -> None:
    formatter = TextFormatter(FORMAT)
    assert formatter.format_access(EVENT, created) == formatter.format(_record(EVENT, created))
    assert "POST /models/iris/predict 200 request_id=abc123 model=iris" in (
        formatter.format_access(EVENT, created)
    )


def test_json_access_line_equals_the_formatted_record() -> None:
    formatter = JsonFormatter()
    created = 1_780_000_000.25
    fast = orjson.loads(formatter.format_access(EVENT, created))
    assert fast == orjson.loads(formatter.format(_record(EVENT, created)))
    assert fast["latency_ms"] == 1.23
    assert fast["rows"] == 3
    assert fast["model"] == "iris"


def test_control_characters_in_a_path_are_escaped() -> None:
    forged = AccessEvent("id", "GET", "/x\n2026-01-01 INFO forged", 404, 0.1, None, None, None)
    line = TextFormatter(FORMAT).format_access(forged, 1_780_000_000.0)
    assert "\n" not in line
    assert "/x\\n2026-01-01" in line


def test_json_lines_escape_line_separators_and_bidi_overrides() -> None:
    """Valid JSON either way, but a raw U+2028 breaks the line in viewers, U+202E reverses it."""
    path = "/a\u2028b\u2029c\u202ed\u2067e"
    event = AccessEvent("id", "GET", path, 404, 0.1, None, None, None)
    formatter = JsonFormatter()
    record = logging.LogRecord("mlserve", logging.WARNING, "", 0, "path %s", (path,), None)
    for line in (formatter.format_access(event, 1_780_000_000.0), formatter.format(record)):
        assert not {"\u2028", "\u2029", "\u202e", "\u2067"} & set(line)
        assert "\\u2028" in line
        assert path in orjson.loads(line)["message"]  # the same text to a JSON parser


@pytest.fixture
def configured() -> Iterator[io.StringIO]:
    """The server's logging set-up, writing to a string instead of stderr."""
    stream = io.StringIO()
    config = log_config("info", "text")
    config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)
    yield stream
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.handlers, logger.propagate, logger.level = [], True, logging.NOTSET


def served_writer() -> Any:
    """access_writer() as in the server: pytest's own capture handlers (added to every logger
    for the test call) are taken off first, so the access logger has only its LineHandler."""
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.handlers = [h for h in logger.handlers if isinstance(h, LineHandler)]
    return access_writer()


def test_lines_wait_for_the_timer_then_are_written_in_order(configured: io.StringIO) -> None:
    write = served_writer()
    assert isinstance(getattr(write, "__self__", None), LineHandler)

    async def burst() -> tuple[str, str]:
        for n in range(3):
            write((f"r{n}", "GET", "/health", 200, 0.0001, None, None, None))
        before_timer = configured.getvalue()
        await asyncio.sleep(LineHandler.FLUSH_AFTER_S * 3)  # let the flush timer fire
        return before_timer, configured.getvalue()

    before_timer, after_timer = asyncio.run(burst())
    assert before_timer == ""
    ids = [line.split("request_id=")[1].split()[0] for line in after_timer.splitlines()]
    assert ids == ["r0", "r1", "r2"]


def test_any_other_record_writes_the_waiting_lines_first(configured: io.StringIO) -> None:
    write = served_writer()

    async def mixed() -> None:
        write(("first", "GET", "/health", 200, 0.0001, None, None, None))
        logging.getLogger("mlserve.core").warning("second")

    asyncio.run(mixed())
    lines = configured.getvalue().splitlines()
    assert "request_id=first" in lines[0]
    assert lines[1].endswith("second")


def test_waiting_lines_give_the_garbage_collector_nothing_to_keep_tracking(
    configured: io.StringIO,
) -> None:
    # a waiting named tuple stays tracked (the collector untracks only plain tuples) and
    # lives through young collections into the older ones; a plain tuple of strings and
    # numbers is untracked by the first young collection
    write = served_writer()

    async def queued() -> list[Any]:
        write(FIELDS)
        return list(vars(write.__self__)["_waiting"])

    waiting = asyncio.run(queued())
    assert len(waiting) == 1
    assert all(type(item) is tuple for item in waiting)
    gc.collect(0)
    assert not any(gc.is_tracked(item) for item in waiting)
    write.__self__.flush()
    assert "request_id=abc123" in configured.getvalue()


def test_a_waiting_line_keeps_its_requests_time_not_the_writes(
    configured: io.StringIO,
) -> None:
    write = served_writer()
    formatter = TextFormatter(FORMAT)

    async def queued() -> float:
        write(FIELDS)
        ((written_at, *_),) = vars(write.__self__)["_waiting"]
        return float(written_at)

    created = asyncio.run(queued())
    write.__self__.flush()
    assert configured.getvalue() == formatter.format_access(EVENT, created) + "\n"


def test_without_an_event_loop_a_line_is_written_at_once(configured: io.StringIO) -> None:
    served_writer()(FIELDS)
    assert "request_id=abc123" in configured.getvalue()


def test_a_full_buffer_is_written_without_waiting(configured: io.StringIO) -> None:
    write = served_writer()

    async def many() -> int:
        for _ in range(LineHandler.MAX_WAITING):
            write(FIELDS)
        return len(configured.getvalue().splitlines())

    assert asyncio.run(many()) == LineHandler.MAX_WAITING


def test_a_line_that_cannot_be_formatted_costs_only_itself(
    configured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging, "raiseExceptions", False)  # handleError stays quiet
    write = served_writer()
    unformattable = ("bad", "GET", "/x", 200, None, None, None, None)  # no latency

    async def three() -> None:
        write(("r0", "GET", "/health", 200, 0.0001, None, None, None))
        write(unformattable)
        write(("r2", "GET", "/health", 200, 0.0001, None, None, None))

    asyncio.run(three())
    write.__self__.flush()
    ids = [line.split("request_id=")[1].split()[0] for line in configured.getvalue().splitlines()]
    assert ids == ["r0", "r2"]


def test_other_logging_setups_get_plain_records(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        access_writer()(FIELDS)
    [record] = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert record.getMessage() == EVENT.message()
    assert getattr(record, "request_id", None) == "abc123"  # set by the access writer


def test_access_lines_off_below_info(configured: io.StringIO) -> None:
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.WARNING)
    assert access_writer() is None


def test_answered_probes_are_no_access_line_at_info(
    iris_folder: Path, serve_app: Callable[..., httpx.Client], caplog: pytest.LogCaptureFixture
) -> None:
    """A kubelet probing every few seconds filled the log (47 /ready lines in one start)."""
    caplog.set_level(logging.INFO, logger="mlserve.access")
    client = serve_app(
        write_manifest(
            iris_folder, "models:\n  - {name: iris, runtime: sklearn, path: iris-v2.joblib}\n"
        )
    )
    for path in ("/health", "/ready", "/v2/health/live", "/v2/health/ready"):
        assert client.get(path).status_code == 200
    assert client.post("/predict", json={"features": [5.1, 3.5, 1.4, 0.2]}).status_code == 200
    assert client.get("/nowhere").status_code == 404
    lines = [r.getMessage() for r in caplog.records if r.name == "mlserve.access"]
    assert any("POST /predict" in line for line in lines)
    assert any("GET /nowhere" in line for line in lines)
    # (a /ready answered 503 while the model loaded is logged: it is no answered probe)
    assert not [
        line for line in lines if ("/health" in line or "/ready" in line) and " 200 " in line
    ]
