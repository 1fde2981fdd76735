"""The official Open Inference Protocol REST spec, driven by schemathesis against the real
sample server, on every sample model version: no 5xx, and every response matches the
spec's schemas (tests/e2e/oip/README.md says where the file comes from)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from mlserve.config.load import load_manifest
from tests.e2e.fuzzing import fuzz_every_operation

SPEC = Path(__file__).parent / "oip" / "open_inference_rest.yaml"
CHECKS = [not_a_server_error, response_schema_conformance]

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def spec_for(name: str, version: str) -> dict[str, Any]:
    """The spec with its `${MODEL_NAME}`/`${MODEL_VERSION}` placeholders made real."""
    spec: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    paths = {}
    for path, item in spec["paths"].items():
        item.pop("parameters", None)
        real = path.replace("${MODEL_NAME}", name).replace("${MODEL_VERSION}", version)
        paths[real] = item
    spec["paths"] = paths
    return spec


def sample_versions() -> list[tuple[str, str]]:
    from sample_models import build

    manifest = load_manifest(build.HERE / "models.yaml", check_files=False)
    return [(m.name, m.version) for m in manifest.models]


@pytest.mark.parametrize(("name", "version"), sample_versions())
def test_official_spec_finds_no_5xx_and_no_schema_violation(
    live_server: str, name: str, version: str
) -> None:
    schema = schemathesis.openapi.from_dict(spec_for(name, version))
    # live, ready, server metadata; model metadata, ready, infer
    assert fuzz_every_operation(schema, live_server, CHECKS, max_examples=25) == 6
