"""Process tuning is a server's alone (mlserve.engine.tuning): a program that embeds the
engine keeps its interpreter as it was."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlserve import wire
from mlserve.client.local import LocalClient
from mlserve.config.load import load_manifest
from mlserve.engine import cpus
from mlserve.engine.tuning import GC_YOUNG_THRESHOLD, SWITCH_INTERVAL_S, ProcessTuning
from mlserve.server import create_app
from tests.support import write_manifest

pytestmark = pytest.mark.unit

ROW = {"features": [5.9, 3.0, 5.1, 1.8]}
TUNED_VARIABLES = (*cpus.THREAD_VARIABLES, wire.ENV_SIZED_THREADS)


def interpreter_state() -> dict[str, object]:
    return {
        "switch interval": sys.getswitchinterval(),
        "frozen objects": gc.get_freeze_count(),
        "gc thresholds": gc.get_threshold(),
        **{v: os.environ.get(v) for v in TUNED_VARIABLES},
    }


@pytest.fixture
def restored_interpreter() -> Iterator[None]:
    """Whatever a test tunes is put back, so that the tests after it see a plain process."""
    saved_env = {v: os.environ.get(v) for v in TUNED_VARIABLES}
    saved = sys.getswitchinterval(), gc.get_threshold()
    yield
    sys.setswitchinterval(saved[0])
    gc.set_threshold(*saved[1])
    gc.unfreeze()
    for name, value in saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def iris_manifest(fast_samples: Path, tmp_path: Path) -> Path:
    return write_manifest(
        tmp_path,
        f"models:\n  - {{name: iris, runtime: sklearn, path: {fast_samples / 'iris-v2.joblib'}}}\n",
    )


def test_local_client_predictions_leave_the_interpreter_as_it_was(iris_manifest: Path) -> None:
    before = interpreter_state()
    client = LocalClient(iris_manifest)
    try:
        answer = client.run("predict", ROW)
        client.info()
    finally:
        client.close()
    assert answer["prediction"] == "virginica"
    assert interpreter_state() == before


def test_an_embedded_app_serving_requests_leaves_the_interpreter_as_it_was(
    iris_manifest: Path,
) -> None:
    before = interpreter_state()
    app = create_app(load_manifest(iris_manifest))

    async def predict() -> httpx.Response:
        async with app.router.lifespan_context(app):
            await app.state.core.load(app.state.core.model("iris"))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                return await client.post("/predict", json=ROW)

    answer = asyncio.run(predict())
    assert answer.status_code == 200, answer.text
    assert answer.json()["prediction"] == "virginica"
    assert interpreter_state() == before


@pytest.mark.usefixtures("restored_interpreter")
def test_a_server_tunes_its_process_and_freezes_what_it_loaded(iris_manifest: Path) -> None:
    gc.set_threshold(700, 10, 5)
    tuning = ProcessTuning(cpus=1)
    tuning.at_start()
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 10, 5)
    if not cpus.user_set_threads():
        assert all(os.environ[v] == "1" for v in cpus.THREAD_VARIABLES)
    frozen = gc.get_freeze_count()
    tuning.after_load(serving=False)
    assert gc.get_freeze_count() > frozen


@pytest.mark.usefixtures("restored_interpreter")
def test_a_higher_gc_threshold_set_by_the_embedder_is_kept() -> None:
    gc.set_threshold(GC_YOUNG_THRESHOLD * 2, 10, 10)
    ProcessTuning(cpus=1).at_start()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD * 2, 10, 10)
