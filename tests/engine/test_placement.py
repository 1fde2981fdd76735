"""Where model calls run: short ones on the event loop with one CPU, the rest on threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlserve.engine.placement import SHORT_CALL_S, CallTimes, ModelCalls
from mlserve.runtimes._base import Batch, BatchPrediction
from tests.models import slow_classifier
from tests.support import serving_process, write_manifest


class ThreadRecorder:
    """A real model's predict that notes which thread ran each call."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.threads: list[int] = []

    def __call__(self, batch: Batch) -> BatchPrediction:
        self.threads.append(threading.get_ident())
        return BatchPrediction(self.model.predict(batch).tolist())


@pytest.fixture(scope="module")
def iris() -> tuple[LogisticRegression, np.ndarray]:
    data = load_iris()
    return LogisticRegression(max_iter=500).fit(data.data, data.target), data.data


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(1) as executor:
        yield executor


def run_calls(calls: ModelCalls, batches: list[np.ndarray]) -> tuple[list[BatchPrediction], int]:
    """The calls one after the other, as a batcher makes them; and the loop's thread."""

    async def main() -> tuple[list[BatchPrediction], int]:
        return [await calls(batch) for batch in batches], threading.get_ident()

    return asyncio.run(main())


@pytest.mark.unit
def test_call_times_scale_a_smaller_size_by_rows_and_know_nothing_smaller() -> None:
    times = CallTimes(short_call_s=0.003)
    assert times.estimate(16) is None
    times.record(16, 0.001)
    assert times.estimate(8) is None  # a smaller call was never timed
    assert times.estimate(16) == 0.001
    assert times.estimate(64) == pytest.approx(0.004)
    assert times.is_short(16)
    assert not times.is_short(64)
    times.record(64, 0.002)  # the size class 64..127 has its own time now
    assert times.is_short(64)
    assert times.estimate(100) == pytest.approx(0.002 * 100 / 64)
    assert not times.is_short(100)
    times.record(64, 0.05)  # the last call of a size is the one that counts
    assert not times.is_short(64)


@pytest.mark.unit
def test_short_calls_of_a_real_model_move_onto_the_loop_with_one_cpu(
    iris: tuple[LogisticRegression, np.ndarray], pool: ThreadPoolExecutor
) -> None:
    model, x = iris
    predict = ThreadRecorder(model)
    # A limit no 8-row call reaches, even on a loaded machine: what is tested is the move.
    calls = ModelCalls(predict, pool, loop_allowed=True, times=CallTimes(short_call_s=1.0))
    batches = [x[:8], x[8:16], x[16:24]]
    results, loop_thread = run_calls(calls, batches)
    assert [r.predictions for r in results] == [model.predict(b).tolist() for b in batches]
    first, *later = predict.threads
    assert first != loop_thread  # nothing known yet: the first call of a size goes to a thread
    assert later == [loop_thread, loop_thread]
    assert calls.times.is_short(8)


@pytest.mark.unit
def test_a_bigger_batch_than_any_timed_goes_to_a_thread_if_it_scales_past_the_limit(
    iris: tuple[LogisticRegression, np.ndarray], pool: ThreadPoolExecutor
) -> None:
    model, x = iris
    predict = ThreadRecorder(model)
    times = CallTimes()
    times.record(1, SHORT_CALL_S / 2)  # one row takes half the limit: 150 rows would take 75x
    results, loop_thread = run_calls(ModelCalls(predict, pool, loop_allowed=True, times=times), [x])
    assert results[0].predictions == model.predict(x).tolist()
    assert predict.threads[0] != loop_thread
    assert times.estimate(len(x)) is not None  # now timed at its own size


@pytest.mark.unit
def test_with_more_than_one_cpu_every_call_runs_on_the_model_threads(
    iris: tuple[LogisticRegression, np.ndarray], pool: ThreadPoolExecutor
) -> None:
    model, x = iris
    predict = ThreadRecorder(model)
    _, loop_thread = run_calls(ModelCalls(predict, pool, loop_allowed=False), [x[:8]] * 4)
    assert loop_thread not in predict.threads


@pytest.mark.unit
def test_a_call_that_waits_stays_on_the_threads_though_it_costs_no_cpu(
    tmp_path: Path, pool: ThreadPoolExecutor
) -> None:
    """Timed by the clock: a model that waits (here 20 ms in its preprocessing, as a GPU or a
    file would make it wait) would block the loop as long."""
    slow_classifier(str(tmp_path / "slow.joblib"), seconds=0.02)
    predict = ThreadRecorder(joblib.load(tmp_path / "slow.joblib"))
    x = load_iris().data[:4]
    _, loop_thread = run_calls(ModelCalls(predict, pool, loop_allowed=True), [x] * 3)
    assert loop_thread not in predict.threads


@pytest.mark.unit
def test_a_short_call_that_waits_instead_of_computing_goes_back_to_the_threads(
    tmp_path: Path, pool: ThreadPoolExecutor
) -> None:
    """As a GPU or a Ray replica makes a call wait: 5 ms here, under a limit set at 1 s so that
    only the waiting can send it back. Two waiting calls on the loop decide it, not one."""
    slow_classifier(str(tmp_path / "waits.joblib"), seconds=0.005)
    predict = ThreadRecorder(joblib.load(tmp_path / "waits.joblib"))
    calls = ModelCalls(predict, pool, loop_allowed=True, times=CallTimes(short_call_s=1.0))
    _, loop_thread = run_calls(calls, [load_iris().data[:4]] * 5)
    on_loop = [thread == loop_thread for thread in predict.threads]
    assert on_loop == [False, True, True, False, False]
    assert calls.waits


@pytest.mark.unit
def test_a_computing_model_keeps_its_calls_on_the_loop(
    iris: tuple[LogisticRegression, np.ndarray], pool: ThreadPoolExecutor
) -> None:
    model, x = iris
    predict = ThreadRecorder(model)
    calls = ModelCalls(predict, pool, loop_allowed=True, times=CallTimes(short_call_s=1.0))
    _, loop_thread = run_calls(calls, [x[:8]] * 20)
    assert predict.threads[1:] == [loop_thread] * 19
    assert not calls.waits


@pytest.mark.e2e
def test_with_one_cpu_probes_answer_while_a_slow_model_works(tmp_path: Path) -> None:
    """`server.cpus: 1`, a batching model (one call at a time): short calls may run on the
    loop, but this slow model's never do, so `/health` answers while it works. A server
    process of its own: latency in the test process would also measure its collector's
    passes over every other test's objects."""
    # 2 s a call: a call on the loop would hold a probe that long, far above what a busy
    # machine adds (a probe took 0.6 s once while other tests' processes ran).
    slow_classifier(str(tmp_path / "slow.joblib"), seconds=2.0)
    manifest = write_manifest(
        tmp_path,
        """
server: {cpus: 1}
models:
  - {name: slow, runtime: sklearn, path: slow.joblib}
""",
    )
    with serving_process(str(manifest)) as served:
        health = probe_while_slow_calls(served.url)
    assert len(health) > 10
    assert max(health) < 1.2  # a 2 s call on the loop would have held a probe that long


def probe_while_slow_calls(url: str) -> list[float]:
    """/health's latencies while three slow predictions run one after another."""
    row = {"features": [5.1, 3.5, 1.4, 0.2]}
    health: list[float] = []

    def slow_calls_in_a_row() -> list[int]:
        return [httpx.post(url + "/predict", json=row, timeout=30).status_code for _ in range(3)]

    with ThreadPoolExecutor(1) as background:
        slow_calls = background.submit(slow_calls_in_a_row)
        with httpx.Client(timeout=30) as client:
            while not slow_calls.done():
                health.append(client.get(url + "/health").elapsed.total_seconds())
    assert slow_calls.result() == [200] * 3
    return health
