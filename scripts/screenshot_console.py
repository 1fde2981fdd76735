"""Take the README's console screenshot (docs/console.png) from the sample manifest, and
record the cards it shows (docs/console-cards.txt), which a unit test compares with the
manifest: a manifest change without a new screenshot fails the tests.

    python scripts/screenshot_console.py      # needs the samples built and Debian's chromium
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.browser import playwright_chromium  # noqa: E402
from tests.support import start_server  # noqa: E402

MANIFEST = ROOT / "sample_models" / "models.yaml"
SHOT = ROOT / "docs" / "console.png"
CARDS = ROOT / "docs" / "console-cards.txt"
TRAFFIC = [  # a little of each kind, so the figures and charts have something to show
    ("/models/iris/predict", {"features": [5.1, 3.5, 1.4, 0.2]}, 200),
    ("/models/credit/predict", {"features": {"age": 42, "income": 52000, "credit_score": 710}}, 80),
    ("/models/sentiment/classify", {"text": "I loved this film"}, 20),
]


def main() -> None:
    live = start_server(MANIFEST)
    try:
        with httpx.Client(base_url=live.url, timeout=30) as client:
            for route, body, count in TRAFFIC:
                for _ in range(count):
                    client.post(route, json=body).raise_for_status()
        with playwright_chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(live.url + "/")
            page.wait_for_selector("article.model", timeout=15_000)
            page.wait_for_function(
                "() => [...document.querySelectorAll('.figure .scale')]"
                ".some((s) => s.textContent.startsWith('peak'))",
                timeout=15_000,
            )
            cards = page.eval_on_selector_all(
                "article.model",
                "cards => cards.map(c => `${c.dataset.model} ${c.dataset.version}`)",
            )
            page.screenshot(path=str(SHOT), full_page=True)
    finally:
        live.stop()
    CARDS.write_text("\n".join(cards) + "\n")
    print(f"{SHOT.relative_to(ROOT)}: {len(cards)} cards ({SHOT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
