"""Where work runs: on the event loop, on the model threads, or in the offload pool.

Two decisions live here and nowhere else. Work around a model call (parsing a body, decoding
a payload, encoding an answer) leaves the loop for the offload pool when `leaves_loop` says
its size makes it long enough to delay probes. A model call itself runs on the model threads,
or, with one CPU, on the loop when it is known to be short (`ModelCalls`):

A process with one CPU (taskset, a container's quota of one) cannot run a model thread beside
the event loop, only take turns with it, so a call in a thread costs two handoffs and nothing
runs meanwhile; and a model that releases the interpreter lock often (a scikit-learn forest
does once per tree) pays a context switch each time.

A call on the loop blocks it, so only calls known to be short go there: a batch runs on the
loop when a call of its size (or, scaled by rows, of a smaller size) has been timed at no more
than `SHORT_CALL_S`, about one slice of the kernel's scheduler: as long as a model thread on
the same core may already keep the loop waiting. Calls are timed by the clock, never by CPU
time: a call that waits (a GPU, a file) blocks the loop as long as it waits. The first call
of each size, and any size timed above the limit, runs on the model threads; a thread call's
time includes the turns the loop took meanwhile, so it only ever overestimates.

Only a model that computes belongs on the loop: one that waits for something else (a GPU, a
Ray replica, a file) leaves the CPU free for the loop while it waits in a thread. A call on
the loop is judged by the share of its time spent on this thread's CPU, averaged with the
calls before (halving their weight each call, so that one call the kernel paused cannot decide
it alone): below one half, every later call of the model goes to the threads.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from mlserve.runtimes._base import Batch, BatchPrediction

P = ParamSpec("P")
T = TypeVar("T")

SHORT_CALL_S = 0.003
# The sizes from which work around a model call leaves the loop; each is where handing the
# work to a thread starts to cost the loop less than doing it (bench/README.md).
OFF_LOOP_ROWS = 512  # rows decoded or encoded as JSON
OFF_LOOP_BYTES = 256 * 1024  # bytes of a body parsed
OFF_LOOP_ELEMENTS = 1 << 20  # elements of an array checked (a few vectorised passes)


def leaves_loop(
    *, rows: int = 0, body_bytes: int = 0, elements: int = 0, image: bool = False
) -> bool:
    """Whether work of this size goes to the offload pool (`off_loop`) rather than running
    on the event loop: the one rule every layer asks."""
    return (
        image
        or rows >= OFF_LOOP_ROWS
        or body_bytes >= OFF_LOOP_BYTES
        or elements > OFF_LOOP_ELEMENTS
    )


_pool: ThreadPoolExecutor | None = None


def _offload_workers() -> int:
    # One core stays for the event loop: every extra runnable thread makes it wait longer
    # for the GIL, and more threads than cores would not decode any faster.
    return max(1, len(os.sched_getaffinity(0)) - 1)


async def off_loop(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run `function` in the offload pool (created on first use, bounded by the CPUs this
    process may use) and wait for it without blocking the loop."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(_offload_workers(), thread_name_prefix="mlserve-offload")
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, lambda: function(*args, **kwargs))


class CallTimes:
    """The last time taken by a call of each size class (rows rounded up to a power of two)."""

    def __init__(self, short_call_s: float = SHORT_CALL_S) -> None:
        self.short_call_s = short_call_s
        self._last: dict[int, tuple[int, float]] = {}  # size class -> (rows, seconds)

    def record(self, rows: int, seconds: float) -> None:
        self._last[rows.bit_length()] = (rows, seconds)

    def estimate(self, rows: int) -> float | None:
        """Seconds a call of `rows` rows should take: the time of its size class, or that of
        the nearest smaller one scaled by rows; None while no call that small was timed."""
        size = rows.bit_length()
        known = [s for s in self._last if s <= size]
        if not known:
            return None
        timed_rows, seconds = self._last[max(known)]
        return seconds * max(1.0, rows / timed_rows)

    def is_short(self, rows: int) -> bool:
        estimate = self.estimate(rows)
        return estimate is not None and estimate <= self.short_call_s


class ModelCalls:
    """Runs a model's `predict` on the event loop where that is allowed (one CPU, and a model
    that runs one call at a time) and the call is known to be short and to compute rather than
    wait, else on the model threads."""

    def __init__(
        self,
        predict: Callable[[Batch], BatchPrediction],
        executor: Executor,
        *,
        loop_allowed: bool,
        times: CallTimes | None = None,
    ) -> None:
        self._predict = predict
        self._executor = executor
        self.loop_allowed = loop_allowed  # one CPU, and one call at a time
        self.times = times or CallTimes()
        self.cpu_share = 1.0  # of the calls on the loop, averaged (see the module's doc)
        self.waits = False  # calls on the loop were seen waiting rather than computing

    async def __call__(self, batch: Batch) -> BatchPrediction:
        loop = asyncio.get_running_loop()
        if not self.loop_allowed or self.waits:
            return await loop.run_in_executor(self._executor, self._predict, batch)
        if self.times.is_short(len(batch)):
            return self._on_loop(batch)
        return await loop.run_in_executor(self._executor, self._timed, batch)

    def _timed(self, batch: Batch) -> BatchPrediction:
        started = time.perf_counter()
        result = self._predict(batch)
        self.times.record(len(batch), time.perf_counter() - started)
        return result

    def _on_loop(self, batch: Batch) -> BatchPrediction:
        started, cpu_started = time.perf_counter(), time.thread_time()
        result = self._predict(batch)
        seconds, cpu_seconds = time.perf_counter() - started, time.thread_time() - cpu_started
        self.times.record(len(batch), seconds)
        if seconds > 0:
            self.cpu_share = (self.cpu_share + min(1.0, cpu_seconds / seconds)) / 2
            self.waits = self.cpu_share < 0.5
        return result
