"""The admin routes refuse requests a web page could send (CSRF) and requests addressed to
another name (DNS rebinding), with or without an admin key; command-line clients pass.
The browser itself is in tests/e2e/test_browser.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support import write_manifest

pytestmark = pytest.mark.unit

INDEX = "/v2/repository/index"


@pytest.fixture
def keyless(iris_folder: Path, serve_app: Callable[..., httpx.Client]) -> httpx.Client:
    return serve_app(
        write_manifest(
            iris_folder, "models:\n  - {name: iris, runtime: sklearn, path: iris-v2.joblib}\n"
        )
    )


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Sec-Fetch-Site": "cross-site"}, "cross-site request from a web page"),
        ({"Sec-Fetch-Site": "same-site"}, "same-site request"),
        ({"Origin": "http://evil.test"}, "web page at http://evil.test"),
        ({"Origin": "http://127.0.0.1:3000"}, "web page at http://127.0.0.1:3000"),
        ({"Content-Type": "text/plain"}, "sent as text/plain"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, "sent as application/x-www"),
        ({"Host": "evil.test:8000"}, "addressed to evil.test:8000"),  # DNS rebinding
    ],
)
def test_what_a_web_page_sends_is_refused(
    keyless: httpx.Client, headers: dict[str, str], reason: str
) -> None:
    refused = keyless.post(INDEX, content=b"{}", headers=headers)
    assert refused.status_code == 403, refused.text
    assert reason in refused.json()["error"]
    assert keyless.post("/v2/repository/models/iris/unload", headers=headers).status_code == 403
    assert keyless.get("/v2/models/iris/ready").status_code == 200  # still loaded


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl -X POST, the CLI
        {"Content-Type": "application/json"},
        {"Origin": "http://127.0.0.1:8000"},  # the console, same origin
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:8000"},
        {"Sec-Fetch-Site": "none"},  # typed into the address bar
        {"Host": "localhost:8000"},
        {"Host": "[::1]:8000", "Origin": "http://[::1]:8000"},
    ],
)
def test_command_line_and_same_origin_requests_pass(
    keyless: httpx.Client, headers: dict[str, str]
) -> None:
    assert keyless.post(INDEX, headers=headers).status_code == 200


def test_with_an_admin_key_any_host_but_still_no_cross_site(
    iris_folder: Path, serve_app: Callable[..., httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_CSRF_ADMIN", "admin-1")
    client = serve_app(
        write_manifest(
            iris_folder,
            "server: {admin_key_env: TEST_CSRF_ADMIN}\n"
            "models:\n  - {name: iris, runtime: sklearn, path: iris-v2.joblib}\n",
        )
    )
    key = {"Authorization": "Bearer admin-1"}
    assert client.post(INDEX, headers={**key, "Host": "mlserve.internal"}).status_code == 200
    cross = client.post(INDEX, headers={**key, "Origin": "http://evil.test"})
    assert cross.status_code == 403
