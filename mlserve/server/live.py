"""Live figures per model version over the last minutes, for the console at `/`.

A small in-process rolling window: time is cut into SLOT_S-second slots and each model version
keeps its last SLOTS of them (requests, errors by status, a latency histogram, rows per model
call, the queue's peak). Recording a request is a dict lookup, a bisect and a few additions,
so the console costs the prediction path nothing measurable; the page polls `snapshot()`
instead of parsing the Prometheus text. Each server process keeps its own window (under
`--workers N` the page shows the worker that answered its poll).
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlserve.config.schema import ModelSpec
from mlserve.engine.observers import CoreObserver

SLOT_S = 5
SLOTS = 60  # five minutes of history
RECENT_SLOTS = 6  # the headline figures: the last 30 seconds
# Latency histogram bounds: 50 us growing by 15% per bucket up to about a minute; a
# percentile read from it is within 15% of the true one.
LATENCY_BOUNDS = tuple(0.00005 * 1.15**i for i in range(int(math.log(1.2e6) / math.log(1.15))))


@dataclass
class Slot:
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latency: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS) + 1))
    calls: int = 0
    rows: int = 0
    queue_peak: int = 0


@dataclass
class Window:
    """One model version's slots, keyed by slot number (monotonic seconds // SLOT_S)."""

    slots: dict[int, Slot] = field(default_factory=dict)
    queue_depth: int = 0

    def slot(self, number: int) -> Slot:
        found = self.slots.get(number)
        if found is None:
            found = self.slots[number] = Slot(queue_peak=self.queue_depth)
            for old in [n for n in self.slots if n <= number - SLOTS]:
                del self.slots[old]
        return found


class LiveStats(CoreObserver):
    """Feeds on the requests the middleware sees and the batches the core runs."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[tuple[str, str], Window] = {}

    def _now_slot(self) -> int:
        return int(self._clock() // SLOT_S)

    def _window(self, model: str, version: str) -> Window:
        key = (model, version)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = Window()
        return window

    def observe_request(self, model: str, version: str, status: int, seconds: float) -> None:
        slot = self._window(model, version).slot(self._now_slot())
        slot.requests += 1
        slot.latency[bisect_left(LATENCY_BOUNDS, seconds)] += 1
        if status >= 400:
            code = str(status)
            slot.errors[code] = slot.errors.get(code, 0) + 1

    def model_call(self, spec: ModelSpec, rows: int, seconds: float) -> None:
        slot = self._window(spec.name, spec.version).slot(self._now_slot())
        slot.calls += 1
        slot.rows += rows

    def queue_depth(self, spec: ModelSpec, depth: int) -> None:
        window = self._window(spec.name, spec.version)
        window.queue_depth = depth
        slot = window.slot(self._now_slot())
        slot.queue_peak = max(slot.queue_peak, depth)

    def snapshot(self, model: str, version: str) -> dict[str, Any]:
        """The last 30 s in figures, and each figure's series over the window (oldest
        first, one point per slot; the newest slot is still filling)."""
        window = self._windows.get((model, version), Window())
        newest = self._now_slot()
        numbers = range(newest - SLOTS + 1, newest + 1)
        series = [window.slots.get(n) or Slot(queue_peak=window.queue_depth) for n in numbers]
        recent = series[-RECENT_SLOTS:]
        elapsed = (RECENT_SLOTS - 1) * SLOT_S + self._clock() % SLOT_S
        return {
            "requests_per_s": round(sum(s.requests for s in recent) / elapsed, 2),
            "p50_ms": _percentile_ms(recent, 0.50),
            "p99_ms": _percentile_ms(recent, 0.99),
            "mean_batch_rows": _mean_rows(recent),
            "queue_depth": window.queue_depth,
            "errors": _errors(recent),
            "requests": sum(s.requests for s in series),
            "series": {
                "requests_per_s": [round(s.requests / SLOT_S, 2) for s in series],
                "p50_ms": [_percentile_ms([s], 0.50) for s in series],
                "p99_ms": [_percentile_ms([s], 0.99) for s in series],
                "mean_batch_rows": [_mean_rows([s]) for s in series],
                "queue_depth": [s.queue_peak for s in series],
                "errors": [sum(s.errors.values()) for s in series],
            },
        }


def _percentile_ms(slots: list[Slot], fraction: float) -> float | None:
    total = sum(s.requests for s in slots)
    if total == 0:
        return None
    rank = math.ceil(total * fraction)
    seen = 0
    for bucket in range(len(LATENCY_BOUNDS) + 1):
        seen += sum(s.latency[bucket] for s in slots)
        if seen >= rank:
            upper = LATENCY_BOUNDS[min(bucket, len(LATENCY_BOUNDS) - 1)]
            return round(upper * 1000, 3)
    return None  # unreachable: the buckets hold every request


def _mean_rows(slots: list[Slot]) -> float | None:
    calls = sum(s.calls for s in slots)
    return round(sum(s.rows for s in slots) / calls, 2) if calls else None


def _errors(slots: list[Slot]) -> dict[str, int]:
    out: dict[str, int] = {}
    for slot in slots:
        for code, count in slot.errors.items():
            out[code] = out.get(code, 0) + count
    return out
