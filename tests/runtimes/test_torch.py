"""The torch runtime's formats, trust rules and device selection."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from mlserve.config.load import load_manifest
from mlserve.config.schema import ModelSpec
from mlserve.engine.core import InferenceCore
from mlserve.errors import InputError
from mlserve.runtimes.torch import TorchRuntime
from sample_models.nets import IrisMLP
from tests.support import write_manifest

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)


@pytest.fixture(scope="module")
def mlp() -> IrisMLP:
    torch.manual_seed(0)
    return IrisMLP(hidden=8).eval()


def expected(model: torch.nn.Module) -> np.ndarray:
    with torch.inference_mode():
        return torch.softmax(model(torch.from_numpy(ROWS)), dim=1).numpy()


def load(path: Path, **options: object) -> TorchRuntime:
    runtime = TorchRuntime(ModelSpec(name="m", runtime="torch", path=path, **options))
    runtime.load()
    return runtime


def test_state_dict_with_weights_only_and_class(tmp_path: Path, mlp: IrisMLP) -> None:
    torch.save(mlp.state_dict(), tmp_path / "w.pt")
    runtime = load(
        tmp_path / "w.pt", model_class="sample_models.nets:IrisMLP", model_kwargs={"hidden": 8}
    )
    result = runtime.predict(ROWS)
    assert result.probabilities is not None
    assert np.allclose(result.probabilities, expected(mlp), atol=1e-6)
    info = runtime.describe()
    assert info.n_features == 4  # from the first Linear layer
    assert info.labels == ["0", "1", "2"]
    assert info.device == "cpu"


def test_class_from_a_file_beside_the_manifest(tmp_path: Path, mlp: IrisMLP) -> None:
    (tmp_path / "mynets.py").write_text("from sample_models.nets import IrisMLP as Net\n")
    torch.save(mlp.state_dict(), tmp_path / "w.pth")
    runtime = load(tmp_path / "w.pth", model_class="mynets:Net", model_kwargs={"hidden": 8})
    assert runtime.predict(ROWS).predictions == list(expected(mlp).argmax(axis=1))


def test_export_program_needs_no_class(tmp_path: Path, mlp: IrisMLP) -> None:
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(mlp, (torch.from_numpy(ROWS),), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, str(tmp_path / "m.pt2"))
    runtime = load(tmp_path / "m.pt2", labels=["setosa", "versicolor", "virginica"])
    assert runtime.describe().n_features == 4  # from the program's example input
    result = runtime.predict(ROWS)
    assert result.labels == ["setosa", "versicolor", "virginica"]
    assert np.allclose(result.probabilities, expected(mlp), atol=1e-6)  # type: ignore[arg-type]


def test_torchscript_is_legacy_but_loads(
    tmp_path: Path, mlp: IrisMLP, caplog: pytest.LogCaptureFixture
) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(mlp), str(tmp_path / "m.ts"))
        with caplog.at_level(logging.WARNING, logger="mlserve.runtimes.torch"):
            runtime = load(tmp_path / "m.ts", input_shape=[4])
            result = runtime.predict(ROWS)
    assert "TorchScript" in caplog.text
    assert np.allclose(result.probabilities, expected(mlp), atol=1e-6)  # type: ignore[arg-type]


def test_full_pickle_only_when_trusted(tmp_path: Path, mlp: IrisMLP) -> None:
    torch.save(mlp, tmp_path / "whole.pt")
    with pytest.raises(ValueError, match="trusted: true"):
        load(tmp_path / "whole.pt")
    runtime = load(tmp_path / "whole.pt", trusted=True)
    assert runtime.predict(ROWS).predictions == list(expected(mlp).argmax(axis=1))


def test_regressor_gives_floats(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    torch.save(model.state_dict(), tmp_path / "r.pt")
    runtime = load(
        tmp_path / "r.pt",
        model_class="torch.nn:Linear",
        model_kwargs={"in_features": 4, "out_features": 1},
    )
    assert runtime.describe().task == "regression"
    result = runtime.predict(ROWS)
    assert all(isinstance(p, float) for p in result.predictions)


def test_cuda_on_a_cpu_machine_is_a_clear_load_error(tmp_path: Path, mlp: IrisMLP) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the GPU path is checked on the device machine")
    torch.save(mlp.state_dict(), tmp_path / "w.pt")
    with pytest.raises(RuntimeError, match="CUDA is not available on this machine"):
        load(
            tmp_path / "w.pt",
            model_class="sample_models.nets:IrisMLP",
            model_kwargs={"hidden": 8},
            device="cuda",
        )
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        load(
            tmp_path / "w.pt",
            model_class="sample_models.nets:IrisMLP",
            model_kwargs={"hidden": 8},
            device="tpu",
        )
    auto = load(
        tmp_path / "w.pt",
        model_class="sample_models.nets:IrisMLP",
        model_kwargs={"hidden": 8},
        device="auto",
    )
    assert auto.describe().device == "cpu"


def test_wrong_width_is_a_400_not_a_torch_trace(tmp_path: Path, mlp: IrisMLP) -> None:
    torch.save(mlp.state_dict(), tmp_path / "w.pt")
    manifest = load_manifest(
        write_manifest(
            tmp_path,
            """
models:
  - {name: m, runtime: torch, path: w.pt, model_class: "sample_models.nets:IrisMLP",
     model_kwargs: {hidden: 8}}
""",
        )
    )
    core = InferenceCore(manifest)
    with pytest.raises(InputError, match="expected 4 features, got 3"):
        asyncio.run(core.run("predict", {"features": [1, 2, 3]}))
