"""Image and text routes on the real server: the torch and transformers sample models."""

from __future__ import annotations

import base64
import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.support import serving_process, write_manifest

POSITIVE = [
    "I loved this film",
    "What a wonderful day, thank you so much!",
    "Absolutely fantastic, highly recommend it.",
]
NEGATIVE = [
    "a dull, tedious mess",
    "This is the worst service I have ever had.",
    "The product broke after one day, terrible quality.",
]


def b64_file(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


@pytest.mark.parametrize("digit", [0, 3, 7])
def test_digit_pngs_are_classified_right(server: httpx.Client, samples: Path, digit: int) -> None:
    png = samples / "digits" / f"{digit}.png"
    as_json = server.post("/models/digits/predict/image", json={"image_base64": b64_file(png)})
    assert as_json.status_code == 200, as_json.text
    assert as_json.json()["prediction"] == str(digit)
    assert as_json.json()["prediction"] in as_json.json()["probabilities"]  # its key
    data_url = server.post(
        "/models/digits/predict/image",
        json={"image_base64": "data:image/png;base64," + b64_file(png)},
    )
    assert data_url.json() == as_json.json()
    upload = server.post(
        "/models/digits/predict/image",
        files={"file": (png.name, png.read_bytes(), "image/png")},
    )
    assert upload.status_code == 200, upload.text
    assert upload.json() == as_json.json()


def test_bad_images_are_4xx_and_the_server_keeps_serving(server: httpx.Client) -> None:
    url = "/models/digits/predict/image"
    cases = [
        ({"image_base64": "%%%"}, 400, "not valid base64"),
        ({"image_base64": base64.b64encode(b"plain text").decode()}, 400, "not an image"),
        ({"picture": "x"}, 422, "image_base64"),
    ]
    for body, status, needle in cases:
        response = server.post(url, json=body)
        assert response.status_code == status, response.text
        assert needle in response.json()["message"]
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, format="PNG")
    too_big = server.post(url, files={"file": ("bomb.png", bomb.getvalue(), "image/png")})
    assert too_big.status_code == 413
    assert "pixels" in too_big.json()["message"]
    no_file = server.post(url, data={"x": "1"}, files={"other": ("", b"", "text/plain")})
    assert no_file.status_code in (400, 422)
    tabular = server.post("/models/digits/predict", json={"features": [1.0]})
    assert tabular.status_code == 400
    assert "/predict/image" in tabular.json()["message"]
    assert (
        server.post(
            url,
            json={
                "image_base64": b64_file(
                    Path(__file__).parents[2] / "sample_models" / "digits" / "7.png"
                )
            },
        ).status_code
        == 200
    )


def test_sentiment_gets_obvious_sentences_right(server: httpx.Client) -> None:
    body = server.post(
        "/models/sentiment/classify", json={"texts": POSITIVE + NEGATIVE}, timeout=60
    ).json()
    got = [p["prediction"] for p in body["predictions"]]
    assert got == ["positive"] * len(POSITIVE) + ["negative"] * len(NEGATIVE)
    first = body["predictions"][0]
    assert set(first["probabilities"]) == {"negative", "positive"}
    assert first["confidence"] == max(first["probabilities"].values())


def test_single_text_and_text_errors(server: httpx.Client) -> None:
    url = "/models/sentiment/classify"
    single = server.post(url, json={"text": "I loved this film"}, timeout=60).json()
    assert single["prediction"] == "positive"
    assert single["model"] == "sentiment"
    cases = [
        ({"text": ""}, 400, "empty"),
        ({"text": "   "}, 400, "empty"),
        ({"texts": []}, 400, "empty"),
        ({"texts": ["ok", 3]}, 422, "texts[1] must be a string"),
        ({"text": "a", "texts": ["b"]}, 422, "exactly one"),
        ({"texts": ["x"] * 300}, 413, "300 texts"),
        ({"text": "x" * 20_000}, 413, "20000 characters"),
    ]
    for body, status, needle in cases:
        response = server.post(url, json=body)
        assert response.status_code == status, response.text
        assert needle in response.json()["message"]
    unicode = server.post(url, json={"texts": ["😀 très bien 好", "\u200b\u0000x"]}, timeout=60)
    assert unicode.status_code == 200
    assert len(unicode.json()["predictions"]) == 2


def test_torch_tabular_and_info(server: httpx.Client) -> None:
    body = server.post("/models/iris-torch/predict", json={"features": [6.7, 3.0, 5.2, 2.3]}).json()
    assert body["prediction"] == "virginica"
    info = {m["model"]: m for m in server.get("/model/info").json()["models"]}
    assert info["digits"]["framework"] == "torch"
    assert info["digits"]["input_kind"] == "image"
    assert info["digits"]["input_shape"] == [1, 8, 8]
    assert info["digits"]["device"] == "cpu"
    assert info["sentiment"]["labels"] == ["negative", "positive"]
    assert info["sentiment"]["framework"].startswith("transformers")
    assert info["iris-torch"]["n_features"] == 4


def test_the_default_text_limits_hold_the_model_for_one_request_only(server: httpx.Client) -> None:
    """256 texts of 10,000 characters held the sentiment model for 25 s; the token budget
    refuses them at once, naming the limit."""
    texts = ["so good " * 1250] * 256
    response = server.post("/classify", json={"texts": texts}, timeout=30)
    assert response.status_code == 413
    assert "the limit is 16384 per request" in response.json()["message"]


def test_health_stays_fast_while_large_images_decode(samples: Path, tmp_path: Path) -> None:
    """Image decoding ran on the event loop: eight 4000 x 4000 PNGs (46 kB each, within every
    limit) pushed /health to 3 s, past a liveness probe's 1 s timeout. A server process of its
    own: latency in the test process would also measure its collector's passes over every
    other test's objects."""
    manifest = write_manifest(
        tmp_path,
        f"""
models:
  - {{name: digits, runtime: torch, path: {samples / "digits.pt2"}, input: image,
     preprocess: {{size: [8, 8], mode: L}}}}
""",
    )
    with serving_process(str(manifest)) as served:
        slowest = slowest_health_while_decoding(served.url)
    assert slowest < 0.3, f"/health took {slowest:.2f}s while images decoded"


def slowest_health_while_decoding(live_server: str) -> float:
    buffer = io.BytesIO()
    Image.new("RGB", (4000, 4000), color=(200, 10, 30)).save(buffer, format="PNG")
    body = {"image_base64": base64.b64encode(buffer.getvalue()).decode()}
    url = live_server + "/models/digits/predict/image"
    with ThreadPoolExecutor(8) as pool:
        uploads = [pool.submit(httpx.post, url, json=body, timeout=60) for _ in range(16)]
        slowest = 0.0
        with httpx.Client(base_url=live_server, timeout=10) as client:
            while not all(u.done() for u in uploads):
                started = time.perf_counter()
                assert client.get("/health").status_code == 200
                slowest = max(slowest, time.perf_counter() - started)
        assert [u.result().status_code for u in uploads] == [200] * 16
    return slowest
