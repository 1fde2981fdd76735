"""The README's console screenshot shows today's sample manifest: the cards it recorded
(scripts/screenshot_console.py writes both) are the manifest's versions, in order."""

from __future__ import annotations

import pytest
import yaml

from tests.support import ROOT

pytestmark = pytest.mark.unit


def test_the_console_screenshot_shows_the_sample_manifest() -> None:
    manifest = yaml.safe_load((ROOT / "sample_models" / "models.yaml").read_text())
    versions = [f"{m['name']} {m.get('version', 'v1')}" for m in manifest["models"]]
    cards = (ROOT / "docs" / "console-cards.txt").read_text().splitlines()
    assert cards == versions, "run `python scripts/screenshot_console.py` for a new screenshot"
    assert (ROOT / "docs" / "console.png").stat().st_size > 10_000
    assert "docs/console.png" in (ROOT / "README.md").read_text()
