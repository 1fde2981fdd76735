"""/docs in a real headless Chromium with no network: the operations render from assets that
mlserve serves itself. The screenshot is left in test-output/docs.png."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
OUTPUT = ROOT / "test-output"


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("Debian's chromium is missing: bash scripts/test installs it (apt-get)")
    return found


def headless(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # Everything but loopback goes to a dead proxy: a page that needed a CDN would be blank.
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--proxy-server=http://127.0.0.1:9",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=15000",
        *extra,
        url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_docs_render_offline_in_chromium(live_server: str, tmp_path: Path) -> None:
    dom = headless(live_server + "/docs", tmp_path / "a", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    operations = dom.stdout.count('class="opblock-summary-path"')
    assert operations == 30, dom.stdout[:2000]  # every route in the spec, drawn by Swagger UI
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
