"""Big prediction bodies read whole by the connection (mlserve.transport.wholebody), in a real
uvicorn server running in this process, so that the test can see what the server keeps."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from mlserve.client.tensors import V2Target

pytestmark = pytest.mark.e2e


@pytest.fixture
def no_collector() -> Iterator[None]:
    """Python's collector off, so that only what reference counting frees is freed."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def buffers_left_to_the_collector(smallest: int) -> int:
    """How many buffers of at least `smallest` bytes only the collector could free."""
    gc.set_debug(gc.DEBUG_SAVEALL)  # keep what it finds, to look at it
    try:
        gc.collect()
        return sum(
            isinstance(thing, memoryview) and thing.nbytes >= smallest for thing in gc.garbage
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def test_a_big_body_is_freed_when_its_answer_is_sent(live_server: str, no_collector: None) -> None:
    """Each body's buffer goes with its request: kept until the collector's next pass, a few
    hundred 1.6 MB buffers held a server at over 1 GB."""
    rows = np.random.default_rng(5).uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], (20_000, 4))
    body, headers = V2Target("", ["input"], None, None).request(rows, None)
    with httpx.Client(base_url=live_server, timeout=30) as client:
        for _ in range(5):
            answer = client.post("/v2/models/iris/infer", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
    assert buffers_left_to_the_collector(smallest=rows.nbytes) == 0
