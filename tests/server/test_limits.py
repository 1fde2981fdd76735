"""Every limit of the manifest's `server.limits` is a clear 413; odd JSON is a clear 400."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.support import in_process, write_manifest


@pytest.fixture(scope="module")
def tight(samples: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """The app in process, with every limit set low."""
    with in_process(
        write_manifest(
            tmp_path_factory.mktemp("tight"),
            f"""
server:
  limits: {{max_body_bytes: 4000, max_batch_rows: 10, max_features: 5, max_texts: 3,
           max_text_chars: 50, max_text_tokens: 100, max_image_bytes: 2000,
           max_image_pixels: 1000}}
models:
  - {{name: iris, runtime: sklearn, path: {samples / "iris-v2.joblib"}}}
  - {{name: digits, runtime: torch, path: {samples / "digits.pt2"}, input: image,
     preprocess: {{size: [8, 8], mode: L}}}}
  - {{name: sentiment, runtime: transformers, path: {samples / "sentiment"}}}
""",
        )
    ) as client:
        yield client


def png(size: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (size, size)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        (
            "/models/iris/predict/batch",
            {"inputs": [[1, 2, 3, 4]] * 11},
            "11 rows in one request; the limit is 10",
        ),
        (
            "/models/iris/predict/batch",
            {"inputs": [[1.0] * 6]},
            "6 features per row; the limit is 5",
        ),
        ("/models/iris/predict", {"features": [1.5] * 2000}, "the limit is 4000"),
        ("/models/sentiment/classify", {"texts": ["a", "b", "c", "d"]}, "4 texts"),
        ("/models/sentiment/classify", {"text": "x" * 51}, "51 characters; the limit is 50"),
        (
            "/models/sentiment/classify",
            {"texts": ["long " * 9, "long " * 9, "long " * 9]},
            "may take up to 144 tokens; the limit is 100",
        ),
        (
            "/models/digits/predict/image",
            {"image_base64": base64.b64encode(png(40)).decode()},
            "pixels; the limit is 1000",
        ),
    ],
)
def test_each_limit_is_a_413(tight: httpx.Client, path: str, body: object, needle: str) -> None:
    response = tight.post(path, json=body)
    assert response.status_code == 413, response.text
    assert needle in response.json()["message"]


def test_image_bytes_limit_on_json_and_upload(tight: httpx.Client) -> None:
    noisy = io.BytesIO()
    random = np.random.default_rng(0).integers(0, 255, (60, 60), dtype=np.uint8)
    Image.fromarray(random).save(noisy, format="PNG")  # noise does not compress
    assert len(noisy.getvalue()) > 2000
    url = "/models/digits/predict/image"
    as_json = tight.post(url, json={"image_base64": base64.b64encode(noisy.getvalue()).decode()})
    assert as_json.status_code == 413
    upload = tight.post(url, files={"file": ("x.png", noisy.getvalue(), "image/png")})
    assert upload.status_code == 413


def test_chunked_body_over_the_limit(tight: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b'{"features": [' + b"1.0," * 200

    response = tight.post(
        "/models/iris/predict",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


def test_deeply_nested_json_is_a_400(app_client: httpx.Client) -> None:
    body = b'{"features": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = app_client.post(
        "/predict", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["message"]
    shallow = b'{"features": ' + b"[" * 50 + b"1" + b"]" * 50 + b"}"
    response = app_client.post(
        "/predict", content=shallow, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422)
