"""Headless Debian Chromium for the browser tests, with no network but loopback."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


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
