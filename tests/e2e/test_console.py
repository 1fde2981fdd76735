"""The console at `/` in a real headless Chromium (Debian's, driven by Playwright) with no
network but loopback: it lists every sample model and a failed one with its reason, its try-it
form answers as the API does (iris, credit and its 422 next to `age`, a sentence, an uploaded
digit), the live figures move after a burst, it works from the keyboard, at 375 px and in dark
mode, and with API keys it shows nothing but a key prompt until the right key is given.
Screenshots of each step go to test-output/console/."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import yaml

from tests.browser import playwright_chromium
from tests.support import ROOT, LiveServer, start_server, write_manifest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SHOTS = ROOT / "test-output" / "console"
WAIT_MS = 15_000


def sample_models_and_a_broken_one(samples: Path, folder: Path, server: dict[str, Any]) -> Path:
    manifest = yaml.safe_load((samples / "models.yaml").read_text())
    for model in manifest["models"]:
        model["path"] = str(samples / model["path"])
    broken = folder / "broken.joblib"
    broken.write_bytes(b"these bytes are not a model")
    manifest["models"].append({"name": "broken", "runtime": "sklearn", "path": str(broken)})
    manifest["server"] = server
    return write_manifest(folder, yaml.safe_dump(manifest))


@pytest.fixture(scope="module")
def console_server(samples: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("console")
    live = start_server(sample_models_and_a_broken_one(samples, folder, {}))
    yield live.url
    live.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_chromium() as launched:
        yield launched


class Console:
    """One tab on the console, recording every request the page makes."""

    def __init__(self, page: Page, url: str) -> None:
        self.page, self.url = page, url
        self.requested: list[str] = []
        self.failures: list[str] = []
        page.on("request", lambda request: self.requested.append(request.url))
        page.on("pageerror", lambda error: self.failures.append(str(error)))
        page.goto(url + "/")

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def card(self, model: str, version: str = "v1") -> Any:
        return self.page.locator(f'article[data-model="{model}"][data-version="{version}"]')

    def choose(self, model: str, version: str = "v1") -> None:
        self.page.select_option("#try-model", value=f"{model}\n{version}")

    def answer(self) -> str:
        self.page.wait_for_selector("[data-answer] output", timeout=WAIT_MS)
        return self.page.inner_text("[data-answer] output")


def manifest_models(samples: Path) -> list[dict[str, Any]]:
    models: list[dict[str, Any]] = yaml.safe_load((samples / "models.yaml").read_text())["models"]
    return models


def api(url: str, route: str, **kwargs: Any) -> dict[str, Any]:
    response = httpx.post(url + route, timeout=30, **kwargs)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_console_shows_every_model_and_tries_each_kind(
    console_server: str, browser: Browser, samples: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    console = Console(page, console_server)
    page.wait_for_selector("article.model", timeout=WAIT_MS)
    names = {m["name"] for m in yaml.safe_load((samples / "models.yaml").read_text())["models"]}
    shown = set(
        page.eval_on_selector_all("article.model", "cards => cards.map(c => c.dataset.model)")
    )
    assert shown == names | {"broken"}
    states = {
        (m["model"], m["version"]): m["status"]
        for m in httpx.get(console_server + "/ready").json()["models"]
    }
    for (model, version), state in states.items():
        badge = console.card(model, version).locator(".badge")
        assert badge.inner_text().replace(" ", "_") == state
    assert "Failed: " in console.card("broken").locator(".reason").inner_text()
    assert console.card("broken").locator(".reason").inner_text() != "Failed: None"
    console.shot("01-models")

    # The form opens on what a request without a name gets (iris at its default version),
    # filled with the manifest's example: one click answers.
    assert page.eval_on_selector("#try-model", "select => select.value") == "iris\nv2"
    example = next(m["example"] for m in manifest_models(samples) if m.get("default"))
    prefilled = page.input_value("input[name=features]")
    assert [float(v) for v in prefilled.split(", ")] == example
    page.click("#try-submit")
    from_example = api(console_server, "/predict", json={"features": example})
    assert console.answer() == from_example["prediction"]

    # iris: an unnamed-features model gets one features field.
    console.choose("iris", "v2")
    page.fill("input[name=features]", "5.1, 3.5, 1.4, 0.2")
    page.click("#try-submit")
    expected = api(
        console_server, "/models/iris/versions/v2/predict", json={"features": [5.1, 3.5, 1.4, 0.2]}
    )
    assert console.answer() == expected["prediction"]
    assert "answered by iris v2" in page.inner_text("#result")
    assert page.locator(".bars .bar").count() == len(expected["probabilities"])
    console.shot("02-iris")

    # credit: one labelled number field per named input; the server's 422 lands next to age.
    console.choose("credit")
    for name, value in [("age", "17"), ("income", "52000"), ("credit_score", "710")]:
        page.fill(f"input[name={name}]", value)
    page.click("#try-submit")
    age = page.locator("input[name=age]")
    described_by = age.get_attribute("aria-describedby")
    assert described_by is not None
    age_error = page.locator("#" + described_by)
    age_error.wait_for(state="visible", timeout=WAIT_MS)
    assert age_error.inner_text().startswith("422: field 'age' must be >= 18")
    assert age.get_attribute("aria-invalid") == "true"
    assert page.inner_text("#result") == ""
    console.shot("03-credit-422")
    page.fill("input[name=age]", "41")
    page.click("#try-submit")
    features = {"age": 41, "income": 52000, "credit_score": 710}
    assert (
        console.answer()
        == api(console_server, "/models/credit/predict", json={"features": features})["prediction"]
    )
    assert age_error.inner_text() == ""
    assert "confidence" in page.inner_text("#result")
    console.shot("04-credit")

    # sentiment: a text box.
    console.choose("sentiment")
    page.fill("textarea[name=text]", "I loved this film, it was wonderful")
    page.click("#try-submit")
    said = api(
        console_server,
        "/models/sentiment/classify",
        json={"text": "I loved this film, it was wonderful"},
    )
    assert console.answer() == said["prediction"]
    console.shot("05-sentiment")

    # digits: an image file.
    console.choose("digits")
    digit = samples / "digits" / "3.png"
    page.set_input_files("input[name=file]", str(digit))
    page.click("#try-submit")
    with digit.open("rb") as image:
        seen = api(
            console_server,
            "/models/digits/predict/image",
            files={"file": ("3.png", image, "image/png")},
        )
    assert console.answer() == str(seen["prediction"])
    console.shot("06-digits")

    # The same field takes a file dropped on it.
    dropped = samples / "digits" / "7.png"
    transfer = page.evaluate_handle(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: "image/png"}));
            return transfer;
        }""",
        [dropped.name, base64.b64encode(dropped.read_bytes()).decode()],
    )
    page.dispatch_event(".drop", "drop", {"dataTransfer": transfer})
    assert page.eval_on_selector("input[name=file]", "input => input.files[0].name") == "7.png"
    page.click("#try-submit")
    with dropped.open("rb") as image:
        seen = api(
            console_server,
            "/models/digits/predict/image",
            files={"file": ("7.png", image, "image/png")},
        )
    page.wait_for_function(
        "expected => document.querySelector('[data-answer] output')?.textContent === expected",
        arg=str(seen["prediction"]),
        timeout=WAIT_MS,
    )

    # A burst of requests: the figures and the chart of iris v1 move.
    figure = console.card("iris").locator('[data-figure="requests_per_s"] .value')
    before = figure.inner_text()
    with httpx.Client(base_url=console_server) as client:
        for _ in range(300):
            assert client.post(
                "/models/iris/versions/v1/predict", json={"features": [6.0, 2.9, 4.5, 1.5]}
            ).is_success
    page.wait_for_function(
        """() => {
            const card = document.querySelector('article[data-model="iris"][data-version="v1"]');
            const value = card.querySelector('[data-figure="requests_per_s"] .value').textContent;
            const p99 = card.querySelector('[data-figure="p99_ms"] .value').textContent;
            return Number(value) >= 5 && p99.endsWith(" ms");
        }""",
        timeout=WAIT_MS,
    )
    assert figure.inner_text() != before
    line = (
        console.card("iris")
        .locator('[data-figure="requests_per_s"] polyline')
        .get_attribute("points")
    )
    assert len({point.split(",")[1] for point in line.split()}) > 1  # not a flat line any more
    scale = console.card("iris").locator('[data-figure="requests_per_s"] .scale').inner_text()
    assert scale.startswith("peak ")
    assert float(scale.split()[1].replace(",", "")) >= 5
    console.shot("07-after-a-burst")

    origin = console_server + "/"
    assert all(url.startswith(origin) for url in console.requested), console.requested
    assert console.failures == []
    page.close()


def test_every_field_is_labelled_and_the_form_works_from_the_keyboard(
    console_server: str, browser: Browser
) -> None:
    page = browser.new_page()
    console = Console(page, console_server)
    page.wait_for_selector("article.model", timeout=WAIT_MS)
    for model, version in [("iris", "v1"), ("credit", "v1"), ("sentiment", "v1"), ("digits", "v1")]:
        console.choose(model, version)
        unlabelled = page.eval_on_selector_all(
            "input, select, textarea",
            "fields => fields.filter(f => f.labels.length === 0).map(f => f.id || f.name)",
        )
        assert unlabelled == []
    console.choose("iris", "v1")
    page.keyboard.press("Tab")  # the skip link comes first
    page.keyboard.press("Enter")
    for _ in range(10):  # then Tab to the features field
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "features":
            break
    assert page.evaluate("document.activeElement.name") == "features"
    page.keyboard.type("6.7 3.0 5.2 2.3")
    page.keyboard.press("Enter")
    expected = api(
        console_server, "/models/iris/versions/v1/predict", json={"features": [6.7, 3.0, 5.2, 2.3]}
    )
    assert console.answer() == expected["prediction"]
    page.close()


def test_readable_at_375px_in_dark_mode(console_server: str, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, color_scheme="dark")
    page = context.new_page()
    console = Console(page, console_server)
    page.wait_for_selector("article.model", timeout=WAIT_MS)
    console.choose("credit")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scroll
    background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    red, green, blue = (int(c) for c in background[background.index("(") + 1 : -1].split(",")[:3])
    assert red + green + blue < 150, background  # dark
    text = page.evaluate("getComputedStyle(document.body).color")
    assert sum(int(c) for c in text[text.index("(") + 1 : -1].split(",")[:3]) > 500  # light text
    console.shot("08-375px-dark")
    context.close()


def test_with_keys_only_a_prompt_until_the_right_key(
    samples: Path, tmp_path: Path, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_CONSOLE_KEYS", "s3cret-key")
    manifest = sample_models_and_a_broken_one(
        samples, tmp_path, {"api_key_env": "TEST_CONSOLE_KEYS"}
    )
    live: LiveServer = start_server(manifest)
    try:
        context = browser.new_context()
        page = context.new_page()
        console = Console(page, live.url)
        page.wait_for_selector("#key-prompt:not([hidden])", timeout=WAIT_MS)
        assert page.locator("#console").is_hidden()
        assert page.locator("article.model").count() == 0
        assert "iris" not in page.inner_text("body")
        console.shot("09-key-prompt")

        page.fill("#key-input", "wrong-key")
        page.press("#key-input", "Enter")
        page.wait_for_function(
            "() => document.getElementById('key-message').textContent.includes('refused')",
            timeout=WAIT_MS,
        )
        assert page.locator("#console").is_hidden()
        console.shot("10-wrong-key")

        page.fill("#key-input", "s3cret-key")
        page.press("#key-input", "Enter")
        page.wait_for_selector("article.model", timeout=WAIT_MS)
        assert page.locator("#key-prompt").is_hidden()
        console.choose("iris", "v2")
        page.fill("input[name=features]", "5.1, 3.5, 1.4, 0.2")
        page.click("#try-submit")
        expected = api(
            live.url,
            "/models/iris/versions/v2/predict",
            json={"features": [5.1, 3.5, 1.4, 0.2]},
            headers={"Authorization": "Bearer s3cret-key"},
        )
        assert console.answer() == expected["prediction"]
        console.shot("11-right-key")
        assert page.evaluate("sessionStorage.getItem('mlserve.apiKey')") == "s3cret-key"
        assert page.evaluate("localStorage.length") == 0  # nothing outlives the tab

        other_tab = context.new_page()  # a new tab starts with no key
        Console(other_tab, live.url)
        other_tab.wait_for_selector("#key-prompt:not([hidden])", timeout=WAIT_MS)
        context.close()
    finally:
        live.stop()
