"""A real headless Chromium with no network: /docs renders from assets that mlserve serves
itself (screenshot in test-output/docs.png), and a page on another origin calls mlserve only
when CORS allows it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.browser import headless
from tests.support import ROOT, start_server, write_manifest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
OUTPUT = ROOT / "test-output"


def test_docs_render_offline_in_chromium(live_server: str, tmp_path: Path) -> None:
    dom = headless(live_server + "/docs", tmp_path / "a", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    current = dom.stdout.count('class="opblock-summary-path"')
    deprecated = dom.stdout.count('class="opblock-summary-path__deprecated"')  # struck through
    spec = httpx.get(live_server + "/openapi.json").json()
    methods = {"get", "post", "put", "delete", "patch", "head", "options"}
    expected = sum(len(methods & set(item)) for item in spec["paths"].values())
    marked = sum(
        1
        for item in spec["paths"].values()
        for method, operation in item.items()
        if method in methods and operation.get("deprecated")
    )
    assert expected >= 30
    assert (current, deprecated) == (expected - marked, marked), dom.stdout[:2000]
    assert "/v2/models/{name}/infer" in dom.stdout
    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "docs.png"
    shot.unlink(missing_ok=True)
    result = headless(
        live_server + "/docs", tmp_path / "b", f"--screenshot={shot}", "--window-size=1280,1600"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    print(f"screenshot: {shot}")


PAGE = """<!doctype html><html><body><div id="out">pending</div><script>
fetch("%s/predict", {method: "POST", body: JSON.stringify({features: [5.1, 3.5, 1.4, 0.2]}),
  headers: {"Content-Type": "application/json", "Authorization": "Bearer key-1"}})
  .then(r => r.json())
  .then(b => { document.getElementById("out").textContent = "answer:" + b.prediction; })
  .catch(() => { document.getElementById("out").textContent = "blocked"; });
</script></body></html>"""


@contextmanager
def static_page() -> Iterator[dict[str, str]]:
    """A page served from its own loopback port (its own origin); set its `html` later."""
    page = {"html": ""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page["html"].encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    page["origin"] = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield page
    finally:
        server.shutdown()


def test_a_cross_origin_page_calls_mlserve_only_when_allowed(
    samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_CORS_KEYS", "key-1")
    with static_page() as allowed, static_page() as refused:
        manifest = write_manifest(
            tmp_path,
            f"""
server: {{api_key_env: TEST_CORS_KEYS, cors: {{allow_origins: ["{allowed["origin"]}"]}}}}
models:
  - {{name: iris, runtime: sklearn, path: {samples / "iris-v2.joblib"}}}
""",
        )
        live = start_server(manifest)
        try:
            allowed["html"] = refused["html"] = PAGE % live.url
            granted = headless(allowed["origin"], tmp_path / "a", "--dump-dom").stdout
            blocked = headless(refused["origin"], tmp_path / "b", "--dump-dom").stdout
        finally:
            live.stop()
    assert '<div id="out">answer:setosa</div>' in granted  # preflight, then the call
    assert '<div id="out">blocked</div>' in blocked


UNLOAD_PAGE = """<!doctype html><html><body><div id="out">pending</div><script>
// What a hostile page can send without CORS: no-cors requests (no preflight, answer unread).
const url = "%s/v2/repository/models/iris/unload";
Promise.allSettled([
  fetch(url, {mode: "no-cors", method: "POST"}),
  fetch(url, {mode: "no-cors", method: "POST", body: "{}"}),
  fetch(url, {mode: "no-cors", method: "POST", body: new URLSearchParams({a: "1"})}),
]).then(() => { document.getElementById("out").textContent = "sent"; });
</script></body></html>"""


def test_a_page_on_another_origin_cannot_use_the_admin_routes(
    samples: Path, tmp_path: Path
) -> None:
    """CSRF (issue 34): on a loopback bind without an admin key, any page the operator opened
    unloaded models through no-cors POSTs. Chromium sends them with Origin and
    Sec-Fetch-Site; the admin routes refuse them (403) and the model stays loaded."""
    manifest = write_manifest(
        tmp_path,
        f"models:\n  - {{name: iris, runtime: sklearn, path: {samples / 'iris-v2.joblib'}}}\n",
    )
    with static_page() as hostile:
        live = start_server(manifest)
        try:
            hostile["html"] = UNLOAD_PAGE % live.url
            dom = headless(hostile["origin"], tmp_path / "p", "--dump-dom").stdout
            index = httpx.post(live.url + "/v2/repository/index").json()
            unloaded = httpx.post(live.url + "/v2/repository/models/iris/unload")  # the CLI's way
        finally:
            live.stop()
    assert '<div id="out">sent</div>' in dom  # the page ran and sent its requests
    assert [(m["name"], m["state"]) for m in index] == [("iris", "READY")]
    assert unloaded.status_code == 200  # a command-line client still can
