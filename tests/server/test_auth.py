"""API keys: missing, wrong and right on every protected route; probes stay open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support import run_cli, write_manifest

KEYS = "old-key-123,new-key-456"
OPEN = {
    "/health",
    "/ready",
    "/v2/health/live",
    "/v2/health/ready",
    "/docs",
    "/openapi.json",
    "/redoc",
    "/docs/oauth2-redirect",
}


@pytest.fixture
def secured_manifest(fast_samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two iris versions and the credit model behind API keys (set in the environment)."""
    monkeypatch.setenv("TEST_MLSERVE_KEYS", KEYS)
    return write_manifest(
        tmp_path,
        f"""
server: {{api_key_env: TEST_MLSERVE_KEYS}}
models:
  - {{name: iris, version: v1, runtime: sklearn, path: {fast_samples / "iris-v1.joblib"}}}
  - {{name: iris, version: v2, runtime: sklearn, path: {fast_samples / "iris-v2.joblib"}}}
  - {{name: credit, runtime: sklearn, path: {fast_samples / "credit.joblib"}}}
""",
    )


@pytest.fixture
def secured(secured_manifest: Path, serve_app: Callable[..., httpx.Client]) -> httpx.Client:
    """The secured app in this process."""
    return serve_app(secured_manifest)


def every_route(client: httpx.Client) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    routes = []
    for path, methods in spec["paths"].items():
        concrete = path.replace("{name}", "iris").replace("{version}", "v1")
        routes += [(method.upper(), concrete) for method in methods if path not in OPEN]
    return routes


def test_every_protected_route_needs_a_key(secured: httpx.Client) -> None:
    routes = every_route(secured)
    assert len(routes) > 15
    for method, path in routes:
        body = {"features": [5.1, 3.5, 1.4, 0.2]} if method == "POST" else None
        missing = secured.request(method, path, json=body)
        wrong = secured.request(method, path, json=body, headers={"Authorization": "Bearer nope"})
        right = secured.request(
            method, path, json=body, headers={"Authorization": "Bearer new-key-456"}
        )
        assert missing.status_code == 401, path
        assert wrong.status_code == 401, path
        assert right.status_code != 401, path
        assert "key-" not in missing.text + wrong.text  # no hint of any key
        assert missing.json()["error"] == "unauthorized"
        assert missing.headers["www-authenticate"] == "Bearer"


def test_probes_and_docs_stay_open(secured: httpx.Client) -> None:
    for path in OPEN - {"/docs/oauth2-redirect"}:
        assert secured.get(path).status_code in (200, 503), path


def test_rotation_and_x_api_key(secured: httpx.Client) -> None:
    for headers in (
        {"Authorization": "Bearer old-key-123"},
        {"X-API-Key": "new-key-456"},
        {"authorization": "bearer old-key-123"},
    ):
        response = secured.post(
            "/predict", json={"features": [5.1, 3.5, 1.4, 0.2]}, headers=headers
        )
        assert response.status_code == 200, headers
    for headers in (
        {"Authorization": "Bearer"},
        {"Authorization": "Basic old-key-123"},
        {"X-API-Key": "old-key-12"},
        {"X-API-Key": "old-key-123,new-key-456"},
    ):
        response = secured.post(
            "/predict", json={"features": [5.1, 3.5, 1.4, 0.2]}, headers=headers
        )
        assert response.status_code == 401, headers


def test_cli_sends_the_key_from_the_environment(
    secured_manifest: Path, serve_manifest: Callable[..., str]
) -> None:
    secured = serve_manifest(secured_manifest)  # the CLI needs a socket
    refused = run_cli("predict", "--features", "5.1,3.5,1.4,0.2", "--url", secured)
    assert refused.code == 1
    assert "missing or wrong API key" in refused.stderr
    allowed = run_cli(
        "predict",
        "--features",
        "5.1,3.5,1.4,0.2",
        "--url",
        secured,
        env={"MLSERVE_API_KEY": "old-key-123"},
    )
    assert allowed.code == 0, allowed.stderr


def test_serve_refuses_to_start_without_the_keys(sample_manifest: Path) -> None:
    result = run_cli("serve", str(sample_manifest), "--api-key-env", "NO_SUCH_VARIABLE_XYZ")
    assert result.code == 1
    assert "$NO_SUCH_VARIABLE_XYZ" in result.stderr


def test_ready_hides_folders_and_digests_from_callers_without_a_key(
    samples: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    serve_manifest: Callable[..., str],
) -> None:
    """/ready is open to probes; its failure reasons showed absolute paths and hashes."""
    monkeypatch.setenv("TEST_MLSERVE_KEYS", KEYS)
    model = samples / "iris-v1.joblib"
    url = serve_manifest(
        write_manifest(
            tmp_path,
            f"""
server: {{api_key_env: TEST_MLSERVE_KEYS}}
models:
  - {{name: iris, runtime: sklearn, path: {model}}}
  - {{name: pinned, runtime: sklearn, path: {model}, sha256: "{"0" * 64}"}}
""",
        )
    )

    def reason(headers: dict[str, str]) -> str:
        models = httpx.get(url + "/ready", headers=headers).json()["models"]
        text: str = next(m for m in models if m["model"] == "pinned")["reason"]
        return text

    public = reason({})
    assert "sha256 mismatch for iris-v1.joblib" in public
    assert str(samples) not in public
    assert "0" * 64 not in public
    full = reason({"X-API-Key": "new-key-456"})
    assert str(model) in full
    assert "0" * 64 in full
    assert reason({"X-API-Key": "wrong"}) == public


def test_the_spec_declares_its_security_schemes(secured: httpx.Client) -> None:
    spec = secured.get("/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert spec["paths"]["/predict"]["post"]["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "401" in spec["paths"]["/v2/models/{name}/infer"]["post"]["responses"]
    assert "security" not in spec["paths"]["/health"]["get"]
