"""Model states, default versions, single-flight lazy loads, failure isolation."""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mlserve.config.load import load_manifest
from mlserve.engine.context import RequestInfo, current
from mlserve.engine.registry import ModelRegistry
from mlserve.engine.shadows import agreeing_rows
from mlserve.errors import ModelNotFound, ModelNotReady
from mlserve.runtimes._base import BatchPrediction
from mlserve.runtimes.sklearn import SklearnRuntime
from tests.support import write_manifest

pytestmark = pytest.mark.unit


@pytest.fixture
def folder(iris_folder: Path) -> Path:
    (iris_folder / "corrupt.joblib").write_bytes(b"\x80\x04 definitely not a pickle")
    return iris_folder


def registry_for(folder: Path, text: str) -> ModelRegistry:
    return ModelRegistry(load_manifest(write_manifest(folder, text)))


def test_default_version_is_marked_else_last(folder: Path) -> None:
    marked = registry_for(
        folder,
        """
models:
  - {name: iris, version: v1, default: true, runtime: sklearn, path: iris-v1.joblib}
  - {name: iris, version: v2, runtime: sklearn, path: iris-v2.joblib}
""",
    )
    assert marked.resolve("iris").spec.version == "v1"
    unmarked = registry_for(
        folder,
        """
models:
  - {name: iris, version: v1, runtime: sklearn, path: iris-v1.joblib}
  - {name: iris, version: v2, runtime: sklearn, path: iris-v2.joblib}
""",
    )
    assert unmarked.resolve("iris").spec.version == "v2"
    assert unmarked.resolve().spec.name == "iris"
    with pytest.raises(ModelNotFound, match="available: v1, v2"):
        unmarked.resolve("iris", "v3")
    with pytest.raises(ModelNotFound, match="unknown model 'x'; available: iris"):
        unmarked.resolve("x")


def test_lazy_model_loads_exactly_once_under_concurrency(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = registry_for(
        folder,
        """
models:
  - {name: iris, runtime: sklearn, path: iris-v2.joblib, load: lazy}
""",
    )
    loads = []
    real_load = SklearnRuntime.load

    def counting_load(self: SklearnRuntime) -> None:
        loads.append(1)
        real_load(self)

    monkeypatch.setattr(SklearnRuntime, "load", counting_load)
    entry = registry.resolve("iris")
    assert entry.status == "not_loaded"

    async def many() -> list[object]:
        return await asyncio.gather(*(registry.ensure_ready(entry) for _ in range(25)))

    runtimes = asyncio.run(many())
    assert len(loads) == 1
    assert all(r is runtimes[0] for r in runtimes)
    assert str(entry.status) == "ready"  # (mypy keeps the narrowing from before the load)
    assert entry.load_seconds is not None


def test_failed_model_is_isolated_with_its_reason(folder: Path) -> None:
    registry = registry_for(
        folder,
        """
models:
  - {name: broken, runtime: sklearn, path: corrupt.joblib}
  - {name: iris, runtime: sklearn, path: iris-v2.joblib}
""",
    )
    asyncio.run(registry.load_startup())
    states = {s["model"]: s for s in registry.states()}
    assert states["iris"]["status"] == "ready"
    assert states["broken"]["status"] == "failed"
    assert states["broken"]["reason"]
    assert registry.ready is False
    with pytest.raises(ModelNotReady, match="failed to load"):
        asyncio.run(registry.ensure_ready(registry.resolve("broken")))


def test_a_file_that_is_not_a_model_fails_clearly(folder: Path) -> None:
    import joblib

    joblib.dump({"not": "a model"}, folder / "dict.joblib")
    registry = registry_for(folder, "models:\n  - {name: d, runtime: sklearn, path: dict.joblib}\n")
    asyncio.run(registry.load_startup())
    assert "has no predict()" in (registry.resolve("d").reason or "")


def test_startup_model_still_loading_is_503(folder: Path) -> None:
    registry = registry_for(
        folder, "models:\n  - {name: iris, runtime: sklearn, path: iris-v2.joblib}\n"
    )
    entry = registry.resolve("iris")
    entry.status = "loading"  # what load_startup marks before it gets to this model
    with pytest.raises(ModelNotReady, match="still loading"):
        asyncio.run(registry.ensure_ready(entry))
    assert registry.ready is False


TWO = """
models:
  - {name: iris, version: v1, runtime: sklearn, path: iris-v1.joblib}
  - {name: iris, version: v2, runtime: sklearn, path: iris-v2.joblib}
"""


def test_a_plan_keeps_unchanged_versions_and_renews_changed_ones(folder: Path) -> None:
    registry = registry_for(folder, TWO)
    asyncio.run(registry.load_startup())
    v1, v2 = registry.resolve("iris", "v1"), registry.resolve("iris", "v2")
    moved_default = load_manifest(
        write_manifest(folder, TWO.replace("iris-v1.joblib}", "iris-v1.joblib, default: true}"))
    )
    table = registry.plan(moved_default)
    assert table.by_name["iris"]["v1"] is v1  # being the default is no change of the model
    assert table.by_name["iris"]["v2"] is v2
    (folder / "iris-v2.joblib").write_bytes((folder / "iris-v2.joblib").read_bytes())  # touched
    renewed = registry.plan(moved_default)
    assert renewed.by_name["iris"]["v1"] is v1
    assert renewed.by_name["iris"]["v2"] is not v2
    registry.swap(table)
    assert registry.resolve("iris") is v1
    assert v1.is_default
    assert not v2.is_default


def test_aliases_and_a_routing_key_pick_versions(folder: Path) -> None:
    registry = registry_for(
        folder, TWO + "routing:\n  iris: {aliases: {stable: v1}, traffic: {stable: 30, v2: 70}}\n"
    )
    assert registry.resolve("iris", "stable").spec.version == "v1"
    token = current.set(RequestInfo("r1", headers=[(b"x-routing-key", b"customer-42")]))
    try:
        picks = {registry.resolve("iris").spec.version for _ in range(50)}
    finally:
        current.reset(token)
    assert len(picks) == 1
    spread = Counter(registry.resolve("iris").spec.version for _ in range(2000))
    assert 0.25 < spread["v1"] / 2000 < 0.35


def test_agreeing_rows_compares_labels_and_regressions() -> None:
    labels = BatchPrediction(["a", "b", "c"], np.ones((3, 2)) / 2, ["a", "b"])
    assert agreeing_rows(labels, BatchPrediction(["a", "x", "c"], np.ones((3, 2)) / 2), 0) == 2
    numbers = BatchPrediction([1.0, 2.0, 3.0])  # regressors answer with lists
    assert agreeing_rows(numbers, BatchPrediction([1.0, 2.05, 3.5]), 0.1) == 2
    assert agreeing_rows(numbers, BatchPrediction([1.0]), 0.1) == 0


def test_unloading_a_version_frees_its_model_at_once(folder: Path) -> None:
    """The registry calls the runtime's `unload()`: the model goes even while something
    (here the test) still holds the runtime object."""
    registry = registry_for(
        folder, "models:\n  - {name: iris, runtime: sklearn, path: iris-v2.joblib}\n"
    )
    entry = registry.resolve("iris")
    asyncio.run(registry.load(entry))
    runtime = entry.runtime
    assert isinstance(runtime, SklearnRuntime)
    model = weakref.ref(runtime._model)
    asyncio.run(registry.unload(entry, drain_s=1))
    assert entry.status == "unloaded"
    assert model() is None
    assert runtime._model is None


@pytest.mark.parametrize(("cpus", "peak"), [(2, 2), (1, 1)])
def test_startup_loads_run_concurrently_up_to_the_cpu_budget(
    folder: Path, cpus: int, peak: int
) -> None:
    import joblib

    from tests.models import MeetingClassifier

    for name in ("a", "b"):
        joblib.dump(MeetingClassifier.fitted(), folder / f"{name}.joblib")
    MeetingClassifier.reset()
    registry = registry_for(
        folder,
        f"""
server: {{cpus: {cpus}}}
models:
  - {{name: iris, runtime: sklearn, path: iris-v2.joblib}}
  - {{name: a, runtime: sklearn, path: a.joblib}}
  - {{name: b, runtime: sklearn, path: b.joblib}}
""",
    )
    asyncio.run(registry.load_startup())
    assert [s["status"] for s in registry.states()] == ["ready"] * 3
    assert MeetingClassifier.peak == peak
