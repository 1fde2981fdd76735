"""Model states, default versions, single-flight lazy loads, failure isolation."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from mlserve.errors import ModelNotFound, ModelNotReady
from mlserve.manifest import load_manifest
from mlserve.registry import ModelRegistry
from mlserve.runtimes.sklearn import SklearnRuntime
from tests.support import write_manifest

pytestmark = pytest.mark.unit


@pytest.fixture
def folder(tmp_path: Path, samples: Path) -> Path:
    for name in ("iris-v1.joblib", "iris-v2.joblib"):
        shutil.copy(samples / name, tmp_path / name)
    (tmp_path / "corrupt.joblib").write_bytes(b"\x80\x04 definitely not a pickle")
    return tmp_path


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
    assert entry.status == "ready"
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
