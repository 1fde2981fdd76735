"""Base64, data: URLs and uploaded bytes -> Pillow -> the model's input array.

The pixel limit is checked on the header, before any pixel is decoded, so a decompression
bomb costs a few bytes of parsing, not gigabytes of memory.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import warnings
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from mlserve.config.schema import LimitsSpec
from mlserve.errors import InputError, LimitExceeded, SchemaViolation
from mlserve.runtimes._base import RuntimeInfo
from mlserve.runtimes._options import PreprocessSpec

FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")


def decode(payload: Any, info: RuntimeInfo, limits: LimitsSpec) -> np.ndarray:
    """One image in a JSON payload or an upload -> float32 array of shape (1, C, H, W) (or
    (1, H, W, C))."""
    return _model_input(image_bytes(payload, limits), info, limits)


def decode_encoded(image: bytes | str, info: RuntimeInfo, limits: LimitsSpec) -> np.ndarray:
    """One encoded image as a protocol decoded it: its bytes, or base64 text."""
    data = (
        _checked_bytes(image, limits) if isinstance(image, bytes) else _from_base64(image, limits)
    )
    return _model_input(data, info, limits)


def _model_input(data: bytes, info: RuntimeInfo, limits: LimitsSpec) -> np.ndarray:
    opened = open_image(data, limits)
    return preprocess(opened, info.preprocess or PreprocessSpec(), info.input_shape)[None, ...]


def image_bytes(payload: Any, limits: LimitsSpec) -> bytes:
    if isinstance(payload, dict) and isinstance(payload.get("image_bytes"), bytes):
        return _checked_bytes(payload["image_bytes"], limits)  # a multipart upload, read
    if isinstance(payload, dict) and isinstance(payload.get("image_base64"), str):
        return _from_base64(payload["image_base64"], limits)
    raise SchemaViolation('send {"image_base64": "..."} or a multipart file upload')


def _from_base64(text: str, limits: LimitsSpec) -> bytes:
    if text.startswith("data:"):
        text = text.partition(",")[2]
    if len(text) > limits.max_image_bytes * 4 // 3 + 4:
        raise LimitExceeded(f"image is over the limit of {limits.max_image_bytes} bytes")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("'image_base64' is not valid base64") from None
    return _checked_bytes(data, limits)


def _checked_bytes(data: bytes, limits: LimitsSpec) -> bytes:
    if not data:
        raise InputError("the image is empty")
    if len(data) > limits.max_image_bytes:
        raise LimitExceeded(f"image is {len(data)} bytes; the limit is {limits.max_image_bytes}")
    return data


def open_image(data: bytes, limits: LimitsSpec) -> Image.Image:
    try:
        with warnings.catch_warnings():  # our own pixel limit below is the one that counts
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise InputError(f"not an image in a supported format ({', '.join(FORMATS)})") from None
    except Image.DecompressionBombError as exc:
        raise LimitExceeded(
            f"image has too many pixels; the limit is {limits.max_image_pixels} ({exc})"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        # Pillow's plugins read a file's header chunks here: a broken chunk, or a text chunk
        # that inflates past Pillow's MAX_TEXT_CHUNK (a zTXt bomb), raises one of these.
        raise InputError(f"the image is corrupt ({exc})") from None
    width, height = image.size
    if width * height > limits.max_image_pixels:
        raise LimitExceeded(
            f"image is {width}x{height} = {width * height} pixels; the limit "
            f"is {limits.max_image_pixels}"
        )
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"the image data is truncated or corrupt ({exc})") from None
    return image


def preprocess(
    image: Image.Image, spec: PreprocessSpec, input_shape: tuple[int, ...] | None
) -> np.ndarray:
    """Mode, size, scale, inversion and normalisation, as the manifest says."""
    image = image.convert(spec.mode)
    size = spec.size or _size_from_shape(input_shape, spec.channels_first)
    if size is not None and image.size != tuple(size):
        image = image.resize((size[0], size[1]), Image.Resampling.BILINEAR)
    pixels: np.ndarray = np.asarray(image, dtype=np.float32)
    if spec.invert:
        pixels = 255.0 - pixels
    pixels = pixels * np.float32(spec.scale)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if spec.mean is not None:
        pixels = pixels - np.asarray(spec.mean, dtype=np.float32)
    if spec.std is not None:
        pixels = pixels / np.asarray(spec.std, dtype=np.float32)
    out: np.ndarray = np.transpose(pixels, (2, 0, 1)) if spec.channels_first else pixels
    return np.ascontiguousarray(out, dtype=np.float32)


def _size_from_shape(shape: tuple[int, ...] | None, channels_first: bool) -> tuple[int, int] | None:
    if not shape or len(shape) != 3:
        return None
    height, width = (shape[1], shape[2]) if channels_first else (shape[0], shape[1])
    return (width, height)
