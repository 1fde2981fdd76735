"""The adaptive batcher on its own: coalescing, order, isolation, cancellation, overload."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from mlserve.engine.batching import AdaptiveBatcher
from mlserve.errors import ClientGone, Overloaded
from mlserve.runtimes._base import Batch, BatchPrediction

pytestmark = pytest.mark.unit


class Doubler:
    """A real (if tiny) model: doubles each row's first value; rows < 0 make it raise."""

    def __init__(self, delay: float = 0.01, *, held: bool = False) -> None:
        self.calls: list[int] = []
        self.delay = delay
        self.busy = asyncio.Event()  # set when a call starts
        # With `held`, each call waits for `release` instead of `delay`: a test decides when
        # the model is done, whatever the machine's speed.
        self.release = asyncio.Event()
        if not held:
            self.release.set()

    async def __call__(self, batch: Batch) -> BatchPrediction:
        assert isinstance(batch, np.ndarray)
        self.calls.append(len(batch))
        self.busy.set()
        await self.release.wait()
        await asyncio.sleep(self.delay)
        if (batch < 0).any():
            raise ValueError("negative input")
        return BatchPrediction((batch[:, 0] * 2).tolist())


def rows(*values: float) -> np.ndarray:
    return np.array([[v] for v in values])


def make(model: Doubler, **kwargs: object) -> AdaptiveBatcher:
    options = {"name": "t", "max_batch_size": 64, "max_wait_ms": 5.0, **kwargs}
    return AdaptiveBatcher(model, **options)  # type: ignore[arg-type]


def test_concurrent_requests_are_coalesced_and_each_gets_its_rows() -> None:
    model = Doubler()

    async def main() -> list[BatchPrediction]:
        batcher = make(model)
        results = await asyncio.gather(*(batcher.submit(rows(i, i + 0.5)) for i in range(40)))
        await batcher.close()
        return results

    results = asyncio.run(main())
    assert [r.predictions for r in results] == [[2 * i, 2 * i + 1] for i in range(40)]
    assert len(model.calls) < 40
    assert sum(model.calls) == 80
    assert max(model.calls) <= 64


def test_max_batch_size_is_respected() -> None:
    model = Doubler()

    async def main() -> None:
        batcher = make(model, max_batch_size=8)
        await asyncio.gather(*(batcher.submit(rows(i)) for i in range(50)))
        await batcher.close()

    asyncio.run(main())
    assert max(model.calls) <= 8
    assert sum(model.calls) == 50


def test_a_lone_request_does_not_wait_for_max_wait() -> None:
    model = Doubler(delay=0)

    async def main() -> float:
        batcher = make(model, max_wait_ms=2000)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await batcher.submit(rows(1))
        elapsed = loop.time() - started
        await batcher.close()
        return elapsed

    assert asyncio.run(main()) < 1.0  # far below max_wait_ms=2000


def test_a_bad_request_fails_alone() -> None:
    model = Doubler()

    async def main() -> list[BatchPrediction | BaseException]:
        batcher = make(model)
        jobs = [batcher.submit(rows(1)), batcher.submit(rows(-1)), batcher.submit(rows(3))]
        out = await asyncio.gather(*jobs, return_exceptions=True)
        await batcher.close()
        return out

    good, bad, other = asyncio.run(main())
    assert isinstance(good, BatchPrediction)
    assert good.predictions == [2]
    assert isinstance(bad, ValueError)
    assert isinstance(other, BatchPrediction)
    assert other.predictions == [6]


def test_callers_that_left_are_dropped_before_the_model_runs() -> None:
    model = Doubler(delay=0, held=True)

    async def main() -> None:
        batcher = make(model, max_concurrency=1)
        first = asyncio.create_task(batcher.submit(rows(1)))
        await model.busy.wait()  # the model is now busy with `first`

        async def gone() -> bool:
            return True

        abandoned = asyncio.create_task(batcher.submit(rows(100), is_gone=gone))
        timed_out = asyncio.create_task(asyncio.wait_for(batcher.submit(rows(200)), 0.01))
        kept = asyncio.create_task(batcher.submit(rows(2)))
        with pytest.raises(TimeoutError):
            await timed_out  # while the model still holds `first`
        model.release.set()
        assert (await first).predictions == [2]
        assert (await kept).predictions == [4]
        with pytest.raises(ClientGone):
            await abandoned
        await batcher.close()

    asyncio.run(main())
    assert model.calls == [1, 1]  # the 100 and 200 rows never reached the model


def test_queue_limit_is_overloaded_with_retry_after() -> None:
    model = Doubler(delay=0.05)

    async def main() -> list[BatchPrediction | BaseException]:
        batcher = make(model, queue_limit=3, max_batch_size=1)
        out = await asyncio.gather(
            *(batcher.submit(rows(i)) for i in range(10)), return_exceptions=True
        )
        await batcher.close()
        return out

    out = asyncio.run(main())
    overloaded = [r for r in out if isinstance(r, Overloaded)]
    assert overloaded
    assert all(o.retry_after is not None and o.retry_after >= 1 for o in overloaded)
    assert [r.predictions for r in out if isinstance(r, BatchPrediction)] == [
        [2 * i] for i in range(10) if not isinstance(out[i], Overloaded)
    ]


def test_text_batches_concatenate_lists() -> None:
    seen: list[list[str]] = []

    async def upper(batch: Batch) -> BatchPrediction:
        assert isinstance(batch, list)
        seen.append(batch)
        await asyncio.sleep(0.01)
        return BatchPrediction([t.upper() for t in batch])

    async def main() -> list[BatchPrediction]:
        batcher = AdaptiveBatcher(upper, name="t", max_batch_size=16, max_wait_ms=5)
        out = await asyncio.gather(*(batcher.submit([f"a{i}", f"b{i}"]) for i in range(6)))
        await batcher.close()
        return out

    out = asyncio.run(main())
    assert [r.predictions for r in out] == [[f"A{i}", f"B{i}"] for i in range(6)]
    assert len(seen) < 6


def test_a_timeout_frees_the_queue_slot_and_spares_the_running_call() -> None:
    model = Doubler(delay=0, held=True)

    async def main() -> None:
        batcher = make(model, max_concurrency=1, queue_limit=2)
        running = asyncio.create_task(batcher.submit(rows(1), timeout=5))
        await model.busy.wait()  # the model holds `running` until released
        late = asyncio.create_task(batcher.submit(rows(7), timeout=0.02))  # queued, then late
        quick = asyncio.create_task(batcher.submit(rows(9), timeout=0.02))
        with pytest.raises(TimeoutError):
            await late
        with pytest.raises(TimeoutError):
            await quick
        assert len(batcher._queue) == 0  # both slots given back at once
        model.release.set()
        assert (await running).predictions == [2]
        assert (await batcher.submit(rows(3), timeout=5)).predictions == [6]
        await batcher.close()

    asyncio.run(main())
    assert model.calls == [1, 1]  # the timed-out rows never reached the model
