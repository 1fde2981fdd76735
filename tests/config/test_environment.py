"""Server options from MLSERVE_* variables: flags win over the environment, the environment
over the manifest; nested options merge; a bad value names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlserve import wire
from mlserve.config.environment import variables, with_server
from mlserve.config.load import load_manifest
from mlserve.errors import ManifestError

pytestmark = pytest.mark.unit


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    (tmp_path / "m.joblib").write_bytes(b"x")
    path = tmp_path / "models.yaml"
    path.write_text(
        "server: {port: 8100, limits: {max_texts: 10, max_body_bytes: 5000}}\n"
        "models: [{name: m, runtime: sklearn, path: m.joblib}]\n"
    )
    return path


def test_flags_over_environment_over_manifest(
    manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_manifest(manifest)
    assert with_server(spec).server.port == 8100
    monkeypatch.setenv("MLSERVE_PORT", "8200")
    monkeypatch.setenv("MLSERVE_LIMITS__MAX_TEXTS", "3")
    monkeypatch.setenv("MLSERVE_CORS__ALLOW_ORIGINS", '["http://localhost:3000"]')
    server = with_server(spec).server
    assert server.port == 8200
    assert server.limits.max_texts == 3
    assert server.limits.max_body_bytes == 5000  # the manifest's other limits stay
    assert server.cors.allow_origins == ["http://localhost:3000"]
    assert with_server(spec, port=8300).server.port == 8300


def test_a_bad_variable_is_named(manifest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSERVE_WORKERS", "many")
    with pytest.raises(ManifestError, match=r"\$MLSERVE_WORKERS: Input should be a valid integer"):
        with_server(load_manifest(manifest))
    monkeypatch.setenv("MLSERVE_WORKERS", "0")
    with pytest.raises(ManifestError, match="invalid server option workers"):
        with_server(load_manifest(manifest))


def test_serve_help_lists_every_variable() -> None:
    assert list(wire.SERVER_ENV_VARIABLES) == variables()


def test_grpc_settings_from_the_manifest_the_environment_and_flags(
    manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_manifest(manifest)
    assert (spec.server.grpc, spec.server.grpc_port) == (True, 8081)  # on, as MLServer's
    monkeypatch.setenv("MLSERVE_GRPC_PORT", "9081")
    monkeypatch.setenv("MLSERVE_GRPC", "false")
    server = with_server(spec).server
    assert (server.grpc, server.grpc_port) == (False, 9081)
    assert with_server(spec, grpc=True, grpc_port=9082).server.grpc_port == 9082
