"""The ONNX runtime: converted models equal their originals, named inputs feed one graph input
each, and bad graphs are clear load errors for that model only."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from skl2onnx import to_onnx
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

from mlserve.config.load import load_manifest
from mlserve.config.schema import ModelSpec
from mlserve.errors import ManifestError
from mlserve.runtimes.onnx import OnnxRuntime
from tests.support import run_cli, write_manifest


def loaded(path: Path, **options: object) -> OnnxRuntime:
    runtime = OnnxRuntime(ModelSpec(name="m", runtime="onnx", path=path, **options))
    runtime.load()
    return runtime


def sum_graph(path: Path) -> Path:
    """Two inputs `a` and `b` of shape (n, 1); the output is a + b."""
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [None, 1])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [None, 1])
    out = helper.make_tensor_value_info("sum", TensorProto.FLOAT, [None, 1])
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["sum"])], "sum", [a, b], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return path


def test_converted_pipeline_equals_the_original(samples: Path) -> None:
    original = joblib.load(samples / "iris-v1.joblib")
    rows = np.random.default_rng(0).uniform([4, 2, 1, 0.1], [8, 4.5, 7, 2.5], (200, 4))
    served = loaded(samples / "iris-v1.onnx")
    result = served.predict(rows)
    assert served.describe().labels == ["0", "1", "2"]  # the graph's own class labels
    assert result.probabilities is not None
    assert np.abs(result.probabilities - original.predict_proba(rows)).max() < 1e-5
    assert result.predictions == original.predict(rows).tolist()


def test_a_regressor_graph(tmp_path: Path) -> None:
    data = load_diabetes()
    ridge = Ridge().fit(data.data, data.target)
    path = tmp_path / "ridge.onnx"
    path.write_bytes(to_onnx(ridge, data.data[:1].astype(np.float32)).SerializeToString())
    served = loaded(path)
    assert served.describe().task == "regression"
    assert np.allclose(served.predict(data.data).predictions, ridge.predict(data.data), rtol=1e-4)


def test_named_inputs_feed_one_graph_input_each(tmp_path: Path) -> None:
    path = sum_graph(tmp_path / "sum.onnx")
    served = loaded(path, inputs=[{"name": "b"}, {"name": "a"}])
    assert served.describe().n_features == 2
    assert served.predict(np.array([[1.0, 2.0], [10.0, 0.5]])).predictions == [3.0, 10.5]


def test_two_unnamed_inputs_are_a_load_error(tmp_path: Path) -> None:
    path = sum_graph(tmp_path / "sum.onnx")
    with pytest.raises(ValueError, match=r"has 2 inputs \(a, b\); name each under `inputs:`"):
        loaded(path)


def test_cuda_without_its_provider_is_a_load_error(samples: Path) -> None:
    with pytest.raises(RuntimeError, match="no CUDA execution provider"):
        loaded(samples / "iris-v1.onnx", device="cuda")


def test_validate_load_names_file_model_and_reason(samples: Path, tmp_path: Path) -> None:
    (tmp_path / "corrupt.onnx").write_bytes(b"\x08\x07 not a graph")
    (tmp_path / "corrupt.json").write_bytes(b"{not xgboost")
    (tmp_path / "corrupt.txt").write_bytes(b"tree\nnonsense")
    manifest = write_manifest(
        tmp_path,
        f"""
models:
  - {{name: good, runtime: onnx, path: {samples / "iris-v1.onnx"}}}
  - {{name: graph, runtime: onnx, path: corrupt.onnx}}
  - {{name: boosted, runtime: xgboost, path: corrupt.json}}
  - {{name: light, runtime: lightgbm, path: corrupt.txt}}
  - {{name: wrong, runtime: onnx, path: {samples / "credit.joblib"}}}
  - {{name: two, runtime: onnx, path: {sum_graph(tmp_path / "sum.onnx")}}}
  - {{name: safe, runtime: sklearn, path: {samples / "iris-v2.skops"}}}
""",
    )
    result = run_cli("validate", str(manifest), "--load", in_subprocess=True)  # log lines
    assert result.code != 0
    for name, file in [
        ("graph", "corrupt.onnx"),
        ("boosted", "corrupt.json"),
        ("light", "corrupt.txt"),
        ("wrong", "credit.joblib"),
        ("two", "sum.onnx"),
        ("safe", "iris-v2.skops"),
    ]:
        line = next(x for x in result.stderr.splitlines() if f"model {name}:v1 failed" in x)
        assert file in line, line
    assert "has 2 inputs" in result.stderr
    assert "needs types the manifest does not trust: sklearn.tree._tree.Tree" in result.stderr
    assert "good:v1" not in result.stderr  # one bad model fails only itself


def test_an_onnx_option_is_typed(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(b"")
    with pytest.raises(ManifestError, match="threads"):
        load_manifest(
            write_manifest(tmp_path, "models: [{name: m, runtime: onnx, path: m.onnx, threads: 0}]")
        )
