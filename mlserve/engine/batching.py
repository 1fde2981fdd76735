"""Adaptive batching: concurrent requests to one model version become one model call.

One dispatcher task per model version. It waits for a free model slot, takes the first queued
request, then keeps adding queued requests until the batch holds `max_batch_size` rows or
`max_wait_ms` has passed since the first. It waits only while requests keep arriving: a lone
caller is dispatched after one event-loop turn, so batching costs a cheap model nothing at low
load, and while the model is busy the queue fills by itself.

Each caller gets exactly its own rows back, in order. Validation happens before a request is
queued, so a bad request never joins a batch; if the model raises on a coalesced batch, each
request is retried alone so the error stays with the request that caused it. Callers that gave
up (timeout, client gone) are dropped before the model runs. A full queue is `Overloaded`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from mlserve.errors import ClientGone, Overloaded
from mlserve.runtimes._base import Batch, BatchPrediction

log = logging.getLogger("mlserve.batching")

RunBatch = Callable[[Batch], Awaitable[BatchPrediction]]
IsGone = Callable[[], Awaitable[bool]]


@dataclass(eq=False)
class _Pending:
    batch: Batch
    rows: int
    future: asyncio.Future[BatchPrediction]
    is_gone: IsGone | None
    queued_at: float = 0.0


GONE_CHECK_AFTER_S = 0.01


class AdaptiveBatcher:
    """Queue and dispatcher for one model version."""

    def __init__(
        self,
        run: RunBatch,
        *,
        name: str,
        max_batch_size: int,
        max_wait_ms: float,
        max_concurrency: int = 1,
        queue_limit: int = 1024,
        on_batch: Callable[[int, float], None] | None = None,
        on_depth: Callable[[int], None] | None = None,
    ) -> None:
        self._run = run
        self.name = name
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self.queue_limit = queue_limit
        self._on_batch = on_batch
        self._on_depth = on_depth
        self._queue: deque[_Pending] = deque()
        self._arrived = asyncio.Event()
        self._slots = asyncio.Semaphore(max_concurrency)
        self._received = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._dispatcher: asyncio.Task[None] | None = None

    async def submit(
        self, batch: Batch, is_gone: IsGone | None = None, timeout: float | None = None
    ) -> BatchPrediction:
        """Queue a validated batch and wait for exactly its rows of the model's answer;
        TimeoutError after `timeout` seconds, queued or running (the call itself goes on:
        its other requests still get their rows)."""
        if len(self._queue) >= self.queue_limit:
            raise Overloaded(
                f"model {self.name} has {len(self._queue)} requests queued; retry shortly",
                retry_after=1,
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[BatchPrediction] = loop.create_future()
        pending = _Pending(batch, len(batch), future, is_gone, time.perf_counter())
        self._queue.append(pending)
        self._received += 1
        if self._on_depth is not None:
            self._on_depth(len(self._queue))
        self._arrived.set()
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch_forever())
        # One timer handle per request (cheaper than an asyncio.timeout scope around it).
        expiry = None if timeout is None else loop.call_later(timeout, self._expire, pending)
        try:
            return await future
        except asyncio.CancelledError:  # abandoned: give the queue slot back
            self._dequeue(pending)
            raise
        finally:
            if expiry is not None:
                expiry.cancel()

    def _expire(self, pending: _Pending) -> None:
        if not pending.future.done():
            self._dequeue(pending)
            pending.future.set_exception(TimeoutError())

    def _dequeue(self, pending: _Pending) -> None:
        with contextlib.suppress(ValueError):
            self._queue.remove(pending)

    async def close(self) -> None:
        if self._dispatcher is not None:
            # Waited for, not awaited: a CancelledError raised here would keep this frame
            # (and through it the batcher and its model) in a traceback cycle, so that an
            # unloaded model would wait for the next full GC to be freed.
            dispatcher, self._dispatcher = self._dispatcher, None
            dispatcher.cancel()
            await asyncio.wait([dispatcher])
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _dispatch_forever(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                group = await self._collect()
            except BaseException:
                self._slots.release()
                raise
            task = asyncio.create_task(self._run_group(group))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _collect(self) -> list[_Pending]:
        while not self._queue:
            self._arrived.clear()
            await self._arrived.wait()
        group = [self._queue.popleft()]
        rows = group[0].rows
        deadline = time.monotonic() + self.max_wait_s
        while rows < self.max_batch_size:
            while self._queue and rows + self._queue[0].rows <= self.max_batch_size:
                item = self._queue.popleft()
                group.append(item)
                rows += item.rows
            if self._queue or time.monotonic() >= deadline:
                break
            # Give requests already parsed by the event loop one turn to join; keep waiting
            # only while they keep coming, so a lone caller never waits for max_wait_ms.
            received = self._received
            await asyncio.sleep(0)
            if self._received == received:
                break
        return group

    async def _run_group(self, group: list[_Pending]) -> None:
        try:
            await self._run_live(group)
        except Exception as exc:  # a bug here must fail its callers, not strand them
            for pending in group:
                _settle(pending, error=exc)
        finally:
            self._slots.release()

    async def _run_live(self, group: list[_Pending]) -> None:
        live = []
        for pending in group:
            if pending.future.done():  # the caller gave up (timeout, cancellation)
                continue
            if await _gone(pending):
                _settle(pending, error=ClientGone("the client disconnected before its turn"))
                continue
            live.append(pending)
        if not live:
            return
        if self._on_depth is not None:
            self._on_depth(len(self._queue))
        started = time.perf_counter()
        try:
            result = await self._run(_concat([p.batch for p in live]))
            if self._on_batch is not None:
                self._on_batch(sum(p.rows for p in live), time.perf_counter() - started)
        except Exception as exc:
            if len(live) == 1:
                _settle(live[0], error=exc)
                return
            log.info("batch of %d requests failed (%s); retrying one by one", len(live), exc)
            for pending in live:
                try:
                    _settle(pending, result=await self._run(pending.batch))
                except Exception as single_exc:
                    _settle(pending, error=single_exc)
            return
        start = 0
        for pending in live:
            _settle(pending, result=result.slice(start, start + pending.rows))
            start += pending.rows


async def _gone(pending: _Pending) -> bool:
    # Asking the connection costs a task switch per request: a request queued for less than
    # this is run even if its client just left.
    if pending.is_gone is None or time.perf_counter() - pending.queued_at < GONE_CHECK_AFTER_S:
        return False
    try:
        return await pending.is_gone()
    except Exception:  # a broken probe must not fail the batch
        return False


def _settle(
    pending: _Pending, *, result: BatchPrediction | None = None, error: BaseException | None = None
) -> None:
    if pending.future.done():
        return
    if error is not None:
        pending.future.set_exception(error)
    else:
        assert result is not None
        pending.future.set_result(result)


def _concat(batches: list[Batch]) -> Batch:
    if len(batches) == 1:
        return batches[0]
    if isinstance(batches[0], np.ndarray):
        return np.concatenate(batches)
    return [text for batch in batches for text in batch]
