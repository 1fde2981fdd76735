"""CORS: off by default; with `server.cors.allow_origins`, preflights and cross-origin calls
work for those origins only, and API keys still apply (a preflight carries none)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support import CliResult, write_manifest

ALLOWED = "http://127.0.0.1:3000"


@pytest.fixture
def cors_server(
    samples: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    serve_app: Callable[..., httpx.Client],
) -> httpx.Client:
    monkeypatch.setenv("TEST_CORS_KEYS", "key-1")
    return serve_app(
        write_manifest(
            tmp_path,
            f"""
server: {{api_key_env: TEST_CORS_KEYS, cors: {{allow_origins: ["{ALLOWED}"]}}}}
models:
  - {{name: iris, runtime: sklearn, path: {samples / "iris-v1.joblib"}}}
""",
        )
    )


def preflight(server: httpx.Client, origin: str) -> httpx.Response:
    return server.options(
        "/predict",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
        },
    )


def test_preflight_for_an_allowed_origin_and_keys_still_apply(cors_server: httpx.Client) -> None:
    allowed = preflight(cors_server, ALLOWED)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    refused = preflight(cors_server, "http://evil.example")
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    body = {"features": [5.1, 3.5, 1.4, 0.2]}
    keyless = cors_server.post("/predict", json=body, headers={"Origin": ALLOWED})
    assert keyless.status_code == 401  # CORS never bypasses the key ...
    assert (
        keyless.headers["access-control-allow-origin"] == ALLOWED
    )  # ... and the page can read why
    keyed = cors_server.post(
        "/predict",
        json=body,
        headers={"Origin": ALLOWED, "Authorization": "Bearer key-1"},
    )
    assert keyed.status_code == 200
    assert "x-request-id" in keyed.headers["access-control-expose-headers"].lower()


def test_cors_is_off_by_default(app_client: httpx.Client) -> None:
    response = preflight(app_client, ALLOWED)
    assert response.status_code == 405
    assert not any(re.match("access-control", h) for h in response.headers)


@pytest.mark.parametrize("origins", ['["*"]', '["http://127.0.0.1:3000", "*"]'])
def test_a_wildcard_origin_with_credentials_is_refused_at_validate(
    samples: Path, tmp_path: Path, cli: Callable[..., CliResult], origins: str
) -> None:
    """Starlette reflected every Origin with credentials for ["*"] (issue 34): refused before
    anything is served, by `validate` and `serve` alike."""
    manifest = write_manifest(
        tmp_path,
        f"""
server: {{cors: {{allow_origins: {origins}, allow_credentials: true}}}}
models:
  - {{name: iris, runtime: sklearn, path: {samples / "iris-v1.joblib"}}}
""",
    )
    for command in ("validate", "serve"):
        refused = cli(command, str(manifest))
        assert refused.code == 1, (command, refused.stdout, refused.stderr)
        assert "allow_credentials" in refused.stderr
        assert "Traceback" not in refused.stderr
    manifest.write_text(manifest.read_text().replace("true", "false"))
    assert cli("validate", str(manifest)).code == 0  # the wildcard alone is no credential leak
