"""Headless Debian Chromium for the browser tests, with no network but loopback: run from
the command line, or driven by Playwright."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser


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


# The same isolation for Playwright, which drives Debian's chromium (it downloads no browser).
ISOLATED = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--proxy-server=http://127.0.0.1:9",
]


@contextmanager
def playwright_chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=ISOLATED)
        try:
            yield browser
        finally:
            browser.close()
