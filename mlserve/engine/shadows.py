"""Shadow traffic: a copy of a share of a model's requests goes to another version, whose
answer is compared with the primary one and never returned.

A copy is queued only once the primary response is sent, in a queue of its own per model name
with one consumer, and dropped (counted) when that queue is full, by count (`queue_limit`) or
by bytes (`queue_bytes`): a shadow that raises, hangs or is slow never changes, slows or fails
a primary answer, nor holds more memory than that.

Invariant: `_queued_bytes[name]` is the sum of `_size` over the copies in that name's queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mlserve.config.schema import ShadowSpec
from mlserve.engine.context import after_response
from mlserve.runtimes._base import Batch, BatchPrediction

log = logging.getLogger("mlserve.shadow")

Outcome = Literal["compared", "error", "dropped"]
GATHER_S = 0.05  # copies gather this long, then go as one model call
JOINED_ROWS = 1024  # at most this many rows in one shadow call
_PYTHON_OBJECT_BYTES = 56  # a label or a float in a list: a small str or float object
# Calls the shadow version of a model on a batch (the core: look-up, load, batcher, timeout).
ShadowCall = Callable[[str, str, Batch], Awaitable[BatchPrediction]]


# Tells the core's observers of an event: ("shadow_call", model, version, outcome, rows,
# agreed rows, seconds[, the share of agreeing rows so far]).
Tell = Callable[..., None]


@dataclass
class ShadowStats:
    """What one model's shadow did since the server started."""

    version: str
    requests: int = 0
    rows: int = 0
    agreed_rows: int = 0
    errors: int = 0
    dropped: int = 0
    seconds: float = 0.0

    @property
    def agreement(self) -> float | None:
        """The share of compared rows on which the shadow agreed."""
        return self.agreed_rows / self.rows if self.rows else None

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "requests": self.requests,
            "agreement": None if self.agreement is None else round(self.agreement, 6),
            "errors": self.errors,
            "dropped": self.dropped,
            "mean_latency_ms": round(1000 * self.seconds / self.requests, 3)
            if self.requests
            else None,
        }


@dataclass(frozen=True)
class _Copy:
    spec: ShadowSpec
    batch: Batch
    primary: BatchPrediction

    @property
    def size(self) -> int:
        """The bytes this copy keeps alive while it waits (its inputs and the answer)."""
        batch = self.batch
        inputs = batch.nbytes if isinstance(batch, np.ndarray) else sum(map(len, batch))
        predictions, probabilities = self.primary.predictions, self.primary.probabilities
        answer = (
            predictions.nbytes
            if isinstance(predictions, np.ndarray)
            else _PYTHON_OBJECT_BYTES * len(predictions)
        )
        if probabilities is not None:
            answer += probabilities.nbytes
        return inputs + answer


class ShadowTraffic:
    def __init__(self, call: ShadowCall, tell: Tell) -> None:
        self._call = call
        self._tell = tell
        self._queues: dict[str, asyncio.Queue[_Copy]] = {}
        self._queued_bytes: dict[str, int] = {}
        self._consumers: set[asyncio.Task[None]] = set()
        self.stats: dict[str, ShadowStats] = {}

    def offer(self, name: str, spec: ShadowSpec, batch: Batch, primary: BatchPrediction) -> None:
        """Maybe send a copy of this request (its share is `spec.percent`) once the primary
        response is sent."""
        if spec.percent < 100 and random.random() * 100 >= spec.percent:
            return
        copy = _Copy(spec, batch, primary)
        after_response(lambda: self._enqueue(name, copy))

    def _enqueue(self, name: str, copy: _Copy) -> None:
        queue = self._queues.get(name)
        if queue is None or queue.maxsize != copy.spec.queue_limit:
            queue = self._queues[name] = asyncio.Queue(copy.spec.queue_limit)
            self._queued_bytes[name] = 0
            task = asyncio.get_running_loop().create_task(self._consume(name, queue))
            self._consumers.add(task)
            task.add_done_callback(self._consumers.discard)
        stats = self._stats(name, copy.spec.version)
        size = copy.size
        if queue.full() or self._queued_bytes[name] + size > copy.spec.queue_bytes:
            stats.dropped += 1
            self._observe(name, copy.spec.version, "dropped", 0, 0, 0.0)
            return
        queue.put_nowait(copy)
        self._queued_bytes[name] += size

    def _taken(self, name: str, queue: asyncio.Queue[_Copy], copy: _Copy) -> _Copy:
        if self._queues.get(name) is queue:  # not a queue a reload has replaced
            self._queued_bytes[name] -= copy.size
        return copy

    async def _consume(self, name: str, queue: asyncio.Queue[_Copy]) -> None:
        """The copies that gathered for a moment become one model call: one call per copy
        would cost the event loop as much as a primary request, time the next primary
        request would have to wait for."""
        while True:
            copies = [self._taken(name, queue, await queue.get())]
            await asyncio.sleep(GATHER_S)
            while not queue.empty() and sum(len(c.primary) for c in copies) < JOINED_ROWS:
                copies.append(self._taken(name, queue, queue.get_nowait()))
            joined = _joined([c.batch for c in copies]) if len(copies) > 1 else None
            if joined is not None:
                with contextlib.suppress(Exception):  # a failure is retried copy by copy
                    await self._run_joined(name, copies, joined)
                    continue
            await asyncio.gather(*(self._run(name, copy) for copy in copies))

    async def _run_joined(self, name: str, copies: list[_Copy], joined: Batch) -> None:
        version = copies[0].spec.version
        started = time.perf_counter()
        answer = await self._call(name, version, joined)
        seconds = time.perf_counter() - started
        start = 0
        for copy in copies:
            stop = start + len(copy.primary)
            agreed = agreeing_rows(copy.primary, answer.slice(start, stop), copy.spec.tolerance)
            self._record(name, copy, agreed, seconds)
            start = stop

    async def _run(self, name: str, copy: _Copy) -> None:
        started = time.perf_counter()
        try:
            answer = await self._call(name, copy.spec.version, copy.batch)
            agreed = agreeing_rows(copy.primary, answer, copy.spec.tolerance)
        except Exception as exc:  # the shadow's failure is measured, never raised
            self._stats(name, copy.spec.version).errors += 1
            log.warning("shadow %s:%s failed: %s", name, copy.spec.version, exc)
            self._observe(name, copy.spec.version, "error", 0, 0, time.perf_counter() - started)
            return
        self._record(name, copy, agreed, time.perf_counter() - started)

    def _record(self, name: str, copy: _Copy, agreed: int, seconds: float) -> None:
        stats = self._stats(name, copy.spec.version)
        stats.requests += 1
        stats.rows += len(copy.primary)
        stats.agreed_rows += agreed
        stats.seconds += seconds
        rows, share = len(copy.primary), stats.agreement
        self._tell("shadow_call", name, stats.version, "compared", rows, agreed, seconds, share)

    def _stats(self, name: str, version: str) -> ShadowStats:
        stats = self.stats.get(name)
        if stats is None or stats.version != version:  # a reload moved the shadow
            stats = self.stats[name] = ShadowStats(version)
        return stats

    def _observe(
        self, name: str, version: str, outcome: Outcome, rows: int, agreed: int, seconds: float
    ) -> None:
        self._tell("shadow_call", name, version, outcome, rows, agreed, seconds)

    async def close(self) -> None:
        self._queues.clear()
        for task in list(self._consumers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _joined(batches: list[Batch]) -> Batch | None:
    """The batches as one (rows of one shape, or texts), or None where they do not join."""
    if all(isinstance(b, list) for b in batches):
        return [text for b in batches for text in b]
    arrays = [b for b in batches if isinstance(b, np.ndarray)]
    if len(arrays) != len(batches) or len({a.shape[1:] for a in arrays}) != 1:
        return None
    return np.concatenate(arrays)


def agreeing_rows(primary: BatchPrediction, shadow: BatchPrediction, tolerance: float) -> int:
    """Rows on which two answers agree: the same label, or regressions within `tolerance`."""
    if len(primary) != len(shadow):
        return 0
    if primary.probabilities is None and shadow.probabilities is None:
        try:
            a = np.asarray(primary.predictions, dtype=np.float64)
            b = np.asarray(shadow.predictions, dtype=np.float64)
        except (TypeError, ValueError):
            pass  # labels without probabilities: compare them as labels
        else:
            return int(np.count_nonzero(np.abs(a - b) <= tolerance))
    same = [str(x) == str(y) for x, y in zip(primary.predictions, shadow.predictions)]  # noqa: B905
    return sum(same)
