"""The console's rolling window: rates, percentiles, batch rows, queue and errors per model
version, and old slots falling out of the window (a fake clock moves time)."""

from __future__ import annotations

import pytest

from mlserve.config.schema import ModelSpec
from mlserve.server.live import RECENT_SLOTS, SLOT_S, SLOTS, LiveStats

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0 * SLOT_S  # the start of a slot

    def __call__(self) -> float:
        return self.now


def spec(name: str = "iris", version: str = "v1") -> ModelSpec:
    return ModelSpec.model_validate(
        {"name": name, "version": version, "runtime": "sklearn", "path": "m.joblib"}
    )


def test_rate_percentiles_and_errors_of_the_recent_slots() -> None:
    clock = Clock()
    live = LiveStats(clock)
    for i in range(100):  # 1 ms .. 100 ms
        live.observe_request("iris", "v1", 200, (i + 1) / 1000)
    live.observe_request("iris", "v1", 422, 0.002)
    live.observe_request("iris", "v1", 503, 0.002)
    clock.now += SLOT_S  # a whole slot later: the figures cover RECENT_SLOTS slots so far
    figures = live.snapshot("iris", "v1")
    elapsed = (RECENT_SLOTS - 1) * SLOT_S
    assert figures["requests_per_s"] == round(102 / elapsed, 2)
    assert 45 <= figures["p50_ms"] <= 50 * 1.15  # a bucket's upper bound: within 15%
    assert 98 <= figures["p99_ms"] <= 99 * 1.15
    assert figures["errors"] == {"422": 1, "503": 1}
    assert figures["requests"] == 102
    series = figures["series"]
    assert len(series["requests_per_s"]) == SLOTS
    assert series["requests_per_s"][-2] == round(102 / SLOT_S, 2)  # the slot before the newest
    assert series["requests_per_s"][-1] == 0
    assert series["errors"][-2] == 2
    assert live.snapshot("iris", "v2")["requests"] == 0  # versions are kept apart


def test_batch_rows_and_queue_depth_from_the_core() -> None:
    clock = Clock()
    live = LiveStats(clock)
    live.model_call(spec(), rows=10, seconds=0.01)
    live.model_call(spec(), rows=30, seconds=0.01)
    live.queue_depth(spec(), 7)
    live.queue_depth(spec(), 2)
    figures = live.snapshot("iris", "v1")
    assert figures["mean_batch_rows"] == 20
    assert figures["queue_depth"] == 2  # now
    assert figures["series"]["queue_depth"][-1] == 7  # the slot's peak
    clock.now += 3 * SLOT_S
    later = live.snapshot("iris", "v1")["series"]["queue_depth"]
    assert later[-1] == 2  # quiet slots carry the current depth
    assert later[-4] == 7


def test_nothing_outlives_the_window() -> None:
    clock = Clock()
    live = LiveStats(clock)
    live.observe_request("iris", "v1", 200, 0.001)
    clock.now += SLOTS * SLOT_S
    figures = live.snapshot("iris", "v1")
    assert figures["requests"] == 0
    assert figures["p99_ms"] is None
    assert figures["requests_per_s"] == 0
    live.observe_request("iris", "v1", 200, 0.001)  # a new slot prunes the expired ones
    assert live.snapshot("iris", "v1")["requests"] == 1


def test_a_slow_request_lands_in_the_last_bucket() -> None:
    live = LiveStats(Clock())
    live.observe_request("iris", "v1", 200, 3600.0)
    assert live.snapshot("iris", "v1")["p99_ms"] is not None
