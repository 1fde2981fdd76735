"""Every broken-manifest case is refused with one message naming file, model, field, line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlserve.config.load import load_manifest
from mlserve.errors import ManifestError
from tests.support import write_manifest

pytestmark = pytest.mark.unit


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "a.joblib").write_bytes(b"x")
    (tmp_path / "b.joblib").write_bytes(b"x")
    return tmp_path


def refused(folder: Path, text: str) -> str:
    path = write_manifest(folder, text)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    message = info.value.message
    assert str(path) in message
    return message


def test_valid_manifest_resolves_paths_and_defaults(folder: Path) -> None:
    path = write_manifest(
        folder,
        """
models:
  - {name: iris, version: v1, runtime: sklearn, path: a.joblib}
  - {name: iris, version: v2, runtime: sklearn, path: b.joblib, load: lazy}
""",
    )
    manifest = load_manifest(path)
    assert [m.key for m in manifest.models] == ["iris:v1", "iris:v2"]
    assert manifest.models[0].path == (folder / "a.joblib").resolve()
    assert manifest.models[1].load == "lazy"
    assert manifest.server.port == 8000
    assert manifest.models[0].batching.max_batch_size >= 1


def test_yaml_syntax_error_names_the_line(folder: Path) -> None:
    message = refused(folder, "models:\n  - name: iris\n    runtime: [sklearn\n")
    assert "invalid YAML" in message
    # Noticed at the end of the file; the unclosed bracket is on line 3.
    assert "(line 4, column 1)" in message
    assert "while parsing a flow sequence that starts at line 3" in message


def test_unknown_key_suggests_the_right_one(folder: Path) -> None:
    message = refused(
        folder,
        """
models:
  - name: iris
    runtime: sklearn
    pth: a.joblib
""",
    )
    assert "model 'iris'" in message
    assert "unknown key 'pth'" in message
    assert "did you mean 'path'" in message
    assert "line 5" in message


def test_unknown_runtime_lists_the_known_ones(folder: Path) -> None:
    message = refused(
        folder,
        """
models:
  - {name: iris, runtime: sklern, path: a.joblib}
""",
    )
    assert "model 'iris'" in message
    assert "field 'runtime'" in message
    assert "unknown runtime 'sklern'" in message
    assert "sklearn, torch, transformers" in message


def test_missing_file_names_model_and_path(folder: Path) -> None:
    message = refused(
        folder,
        """
models:
  - name: iris
    version: v3
    runtime: sklearn
    path: nope.joblib
""",
    )
    assert "model 'iris' version 'v3'" in message
    assert "field 'path'" in message
    assert "model file not found" in message
    assert "nope.joblib" in message
    assert "line 6" in message


def test_duplicate_name_and_version(folder: Path) -> None:
    message = refused(
        folder,
        """
models:
  - {name: iris, version: v1, runtime: sklearn, path: a.joblib}
  - {name: iris, version: v1, runtime: sklearn, path: b.joblib}
""",
    )
    assert "duplicate model 'iris' version 'v1'" in message
    assert "line 4" in message


def test_two_defaults_for_one_name(folder: Path) -> None:
    message = refused(
        folder,
        """
models:
  - {name: iris, version: v1, default: true, runtime: sklearn, path: a.joblib}
  - {name: iris, version: v2, default: true, runtime: sklearn, path: b.joblib}
""",
    )
    assert "two default versions" in message
    assert "field 'default'" in message


def test_missing_required_field(folder: Path) -> None:
    message = refused(folder, "models:\n  - {name: iris, path: a.joblib}\n")
    assert "missing required field 'runtime'" in message


def test_bad_value_type_names_the_field(folder: Path) -> None:
    message = refused(
        folder,
        """
models:
  - name: credit
    runtime: sklearn
    path: a.joblib
    inputs:
      - {name: age, type: integer}
""",
    )
    assert "field 'inputs.type'" in message
    assert "model 'credit'" in message


def test_unknown_default_model(folder: Path) -> None:
    message = refused(
        folder,
        """
server: {default_model: wine}
models:
  - {name: iris, runtime: sklearn, path: a.joblib}
""",
    )
    assert "default_model 'wine' is not a model" in message


def test_not_a_mapping_and_unreadable(folder: Path) -> None:
    assert "expected a mapping" in refused(folder, "- just a list\n")
    with pytest.raises(ManifestError, match=r"missing\.yaml: no such manifest"):
        load_manifest(folder / "missing.yaml")


def test_a_folder_means_its_models_yaml(folder: Path) -> None:
    write_manifest(folder, "models:\n  - {name: iris, runtime: sklearn, path: a.joblib}\n")
    assert load_manifest(folder).source == folder / "models.yaml"
    empty = folder / "empty"
    empty.mkdir()
    with pytest.raises(ManifestError, match=r"is a folder with no models\.yaml in it"):
        load_manifest(empty)


def test_a_model_file_given_as_the_manifest_is_named_as_such(folder: Path) -> None:
    model = folder / "model.joblib"
    model.write_bytes(b"\x80\x04\x95\xff\xfe binary pickle")
    with pytest.raises(ManifestError, match=r"is not a manifest .*a model file"):
        load_manifest(model)


def test_empty_models_list(folder: Path) -> None:
    assert "field 'models'" in refused(folder, "models: []\n")


def test_a_runtime_option_is_checked_by_its_runtime(folder: Path) -> None:
    message = refused(
        folder,
        """
models:
  - name: sentiment
    runtime: transformers
    path: a.joblib
    max_lenght: 128
""",
    )
    assert "model 'sentiment'" in message
    assert "unknown key 'max_lenght'" in message
    assert "did you mean 'max_length'" in message
    assert "line 6" in message


def test_an_option_of_another_runtime_is_refused(folder: Path) -> None:
    message = refused(
        folder,
        """
models:
  - {name: iris, runtime: sklearn, path: a.joblib, max_length: 12}
""",
    )
    assert "unknown key 'max_length'" in message
    assert "known keys:" in message or "did you mean" in message


def test_a_bad_nested_runtime_option_names_its_field_and_line(folder: Path) -> None:
    message = refused(
        folder,
        """
models:
  - name: digits
    runtime: torch
    path: a.joblib
    input: image
    preprocess:
      mode: CMYK
""",
    )
    assert "field 'preprocess.mode'" in message
    assert "line 8" in message
    assert "'L' or 'RGB'" in message


def test_runtime_options_are_typed_by_their_runtime(folder: Path) -> None:
    path = write_manifest(
        folder,
        """
models:
  - {name: sentiment, runtime: transformers, path: a.joblib, max_length: 64}
  - {name: digits, runtime: torch, path: a.joblib, input: image, device: cpu}
""",
    )
    sentiment, digits = load_manifest(path).models
    assert type(sentiment.options).__module__ == "mlserve.runtimes.transformers"
    assert sentiment.options.input_kind() == "text"
    assert sentiment.options.max_length == 64  # type: ignore[attr-defined]
    assert digits.options.input_kind() == "image"
    assert digits.options.device == "cpu"  # type: ignore[attr-defined]


def test_accelerate_off_survives_yaml(folder: Path) -> None:
    path = write_manifest(
        folder, "models: [{name: m, runtime: sklearn, path: a.joblib, accelerate: off}]"
    )
    assert load_manifest(path).models[0].options.accelerate == "off"  # type: ignore[attr-defined]


ROUTED = """
models:
  - {name: iris, version: v1, runtime: sklearn, path: a.joblib}
  - {name: iris, version: v2, runtime: sklearn, path: b.joblib}
routing:
"""


def test_routing_is_read_with_aliases_splits_and_shadows(folder: Path) -> None:
    manifest = load_manifest(
        write_manifest(
            folder,
            ROUTED
            + "  iris: {aliases: {stable: v1}, traffic: {stable: 90, v2: 10},"
            + " shadow: {version: v2, percent: 5, tolerance: 0.01}}\n",
        )
    )
    routing = manifest.routing["iris"]
    assert routing.aliases == {"stable": "v1"}
    assert routing.traffic == {"stable": 90, "v2": 10}
    assert routing.shadow is not None
    assert (routing.shadow.percent, routing.shadow.tolerance) == (5, 0.01)
    assert manifest.version_of("iris", "stable") == "v1"


@pytest.mark.parametrize(
    ("routing", "expected"),
    [
        ("  nope: {aliases: {a: v1}}\n", "field 'routing.nope', line 6: 'nope' is not a model"),
        (
            "  iris: {aliases: {stable: v9}}\n",
            "routing.iris.aliases.stable', line 6: no version 'v9'",
        ),
        ("  iris: {aliases: {v2: v1}}\n", "alias 'v2' is also a version of 'iris'"),
        ("  iris: {traffic: {v1: 60, v2: 60}}\n", "the percentages add up to 120, not 100"),
        ("  iris: {traffic: {v1: 100, v3: 0}}\n", "field 'routing.iris.traffic.v3'"),
        ("  iris: {shadow: {version: v7}}\n", "routing.iris.shadow.version', line 6: no version"),
        ("  iris: {shadow: {version: v2, percent: 0}}\n", "greater than 0"),
        ("  iris: {aliasses: {stable: v1}}\n", "did you mean 'aliases'?"),
        ("  iris: {aliases: {'bad name!': v1}}\n", "routing"),
    ],
)
def test_broken_routing_is_refused_at_its_line(folder: Path, routing: str, expected: str) -> None:
    assert expected in refused(folder, ROUTED + routing)


def test_an_example_must_fit_the_models_inputs(folder: Path) -> None:
    inputs = "inputs: [{name: age}, {name: income}]"
    good = f"models:\n  - {{name: c, runtime: sklearn, path: a.joblib, {inputs},\n"
    ok = load_manifest(write_manifest(folder, good + "     example: {age: 42, income: 5}}\n"))
    assert ok.models[0].example == {"age": 42, "income": 5}
    with pytest.raises(ManifestError, match="example names age, salary; the inputs are age"):
        load_manifest(write_manifest(folder, good + "     example: {age: 42, salary: 5}}\n"))
    with pytest.raises(ManifestError, match="example has 3 values for 2 inputs"):
        load_manifest(write_manifest(folder, good + "     example: [1, 2, 3]}\n"))
