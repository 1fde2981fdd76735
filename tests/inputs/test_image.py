"""Image decoding: formats, data URLs, and every bad image a user might send."""

from __future__ import annotations

import base64
import dataclasses
import io

import numpy as np
import pytest
from PIL import Image

from mlserve.config.schema import LimitsSpec
from mlserve.errors import InputError, LimitExceeded, SchemaViolation
from mlserve.inputs.image import decode, image_bytes, open_image, preprocess
from mlserve.runtimes._base import RuntimeInfo
from mlserve.runtimes._options import PreprocessSpec

pytestmark = pytest.mark.unit

LIMITS = LimitsSpec()
INFO = RuntimeInfo(
    framework="torch",
    framework_version="x",
    task="classification",
    input_kind="image",
    input_shape=(1, 8, 8),
    preprocess=PreprocessSpec(size=(8, 8), mode="L"),
)


def png(size: tuple[int, int] = (32, 32), mode: str = "L", fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color=255 if mode == "L" else (255, 0, 0)).save(out, format=fmt)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_png_becomes_a_scaled_nchw_array() -> None:
    array = decode({"image_base64": b64(png())}, INFO, LIMITS)
    assert array.shape == (1, 1, 8, 8)
    assert array.dtype == np.float32
    assert np.allclose(array, 1.0)


def test_data_url_jpeg_and_upload_bytes() -> None:
    url = "data:image/jpeg;base64," + b64(png(mode="RGB", fmt="JPEG"))
    assert decode({"image_base64": url}, INFO, LIMITS).shape == (1, 1, 8, 8)
    assert decode({"image_bytes": png()}, INFO, LIMITS).shape == (1, 1, 8, 8)


def test_size_comes_from_the_model_when_the_manifest_has_none() -> None:
    bare = dataclasses.replace(INFO, preprocess=PreprocessSpec(mode="L"))
    assert decode({"image_base64": b64(png((20, 30)))}, bare, LIMITS).shape == (1, 1, 8, 8)


def test_invert_mean_std_and_channels_last() -> None:
    image = Image.new("RGB", (2, 2), color=(255, 0, 0))
    spec = PreprocessSpec(
        mode="RGB", invert=True, mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5], channels_first=False
    )
    array = preprocess(image, spec, None)
    assert array.shape == (2, 2, 3)
    assert np.allclose(array[0, 0], [-1.0, 1.0, 1.0])


@pytest.mark.parametrize(
    ("payload", "error", "needle"),
    [
        ({"image_base64": "not base64!!"}, InputError, "not valid base64"),
        ({"image_base64": ""}, InputError, "empty"),
        ({"image_base64": b64(b"hello, I am text")}, InputError, "not an image"),
        ({"image": "x"}, SchemaViolation, "image_base64"),
        ({"image_base64": 42}, SchemaViolation, "image_base64"),
        ({"image_base64": b64(b"%PDF-1.4 fake")}, InputError, "supported format"),
    ],
)
def test_bad_payloads(payload: object, error: type[Exception], needle: str) -> None:
    with pytest.raises(error, match=needle):
        decode(payload, INFO, LIMITS)


def test_truncated_image() -> None:
    data = png((64, 64), mode="RGB")
    noisy = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        noisy, format="PNG"
    )
    with pytest.raises(InputError, match="truncated or corrupt"):
        open_image(noisy.getvalue()[: len(noisy.getvalue()) // 2], LIMITS)
    assert open_image(data, LIMITS).size == (64, 64)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, format="PNG")  # 400 Mpx in ~50 KB
    assert len(bomb.getvalue()) < 200_000
    with pytest.raises(LimitExceeded, match="pixels; the limit is"):
        open_image(bomb.getvalue(), LIMITS)


def test_byte_limit() -> None:
    small = LimitsSpec(max_image_bytes=100)
    with pytest.raises(LimitExceeded, match=r"limit of 100 bytes|limit is 100"):
        image_bytes({"image_base64": b64(png((64, 64), mode="RGB"))}, small)
