"""Malformed input a red team sent (issue 34) is a 4xx with a message, never a 500, and the
server keeps answering; hypothesis fuzzes request headers and multipart bodies the same way."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

IMAGE_ROUTE = "/models/digits/predict/image"
ROW = [5.1, 3.5, 1.4, 0.2]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def digit_png() -> bytes:
    out = io.BytesIO()
    Image.new("L", (8, 8), color=200).save(out, format="PNG")
    return out.getvalue()


def text_bomb_png() -> bytes:
    """An 8x8 PNG with a zTXt chunk that inflates to 200 MB (about 200 KB on the wire)."""
    plain = digit_png()
    bomb = png_chunk(b"zTXt", b"comment\x00\x00" + zlib.compress(b"\0" * (200 << 20), 9))
    return plain[:33] + bomb + plain[33:]  # after the signature and IHDR


def refused(response: httpx.Response, status: int, needle: str) -> None:
    assert response.status_code == status, response.text
    assert needle in response.text, response.text


def test_v2_data_nested_1000_deep_is_400(server: httpx.Client) -> None:
    """Flattening recursed: a RecursionError, a 500."""
    deep = "[" * 1000 + "5.1" + "]" * 1000
    body = '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": %s}]}'
    answer = server.post(
        "/v2/models/iris/infer",
        content=body % deep,
        headers={"content-type": "application/json"},
    )
    refused(answer, 400, "nested more than 32 levels")
    nested_right = {"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [[ROW]]}
    assert server.post("/v2/models/iris/infer", json={"inputs": [nested_right]}).status_code == 200


@pytest.mark.parametrize(
    ("image", "needle"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 12, "not an image"),  # the 20-byte PNG
        (digit_png()[:40], "not an image"),  # cut inside its first chunk
        (text_bomb_png(), "corrupt"),  # Pillow refuses the text chunk past MAX_TEXT_CHUNK
    ],
    ids=["20-byte", "cut", "text-bomb"],
)
def test_broken_and_hostile_pngs_are_400(server: httpx.Client, image: bytes, needle: str) -> None:
    uploaded = server.post(IMAGE_ROUTE, files={"file": ("a.png", image, "image/png")})
    refused(uploaded, 400, needle)
    encoded = server.post(IMAGE_ROUTE, json={"image_base64": base64.b64encode(image).decode()})
    refused(encoded, 400, needle)
    assert server.get("/health").status_code == 200


@pytest.mark.parametrize("length", [70, 71, 200, 2000])
def test_multipart_boundaries_of_any_length_are_answered(server: httpx.Client, length: int) -> None:
    """RFC 2046 caps a boundary at 70 characters; a longer one is served or refused, never a 500."""
    boundary = ("b" * length).encode()
    body = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; '
        b'filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
        + digit_png()
        + b"\r\n--"
        + boundary
        + b"--\r\n"
    )
    answer = server.post(
        IMAGE_ROUTE,
        content=body,
        headers={"content-type": "multipart/form-data; boundary=" + boundary.decode()},
    )
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 400:
        assert "boundary" in answer.json()["message"].lower()


FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
# What a client can put on the wire: latin-1 without controls, no outer whitespace.
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80).map(
    str.strip
)
TOKEN = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz-0123456789"), min_size=1, max_size=30)


@FUZZ
@given(
    headers=st.lists(st.tuples(TOKEN, HEADER_TEXT), max_size=12),
    route=st.sampled_from(["/predict", "/v2/models/iris/infer", IMAGE_ROUTE, "/admin/reload"]),
)
def test_fuzzed_headers_never_get_a_500(
    app_client: httpx.Client, headers: list[tuple[str, str]], route: str
) -> None:
    body = {"features": ROW}
    sent = [(k.encode(), v.encode("latin-1")) for k, v in headers]
    answer = app_client.post(route, json=body, headers=sent)
    assert answer.status_code < 500, (headers, answer.text)


@FUZZ
@given(
    boundary=st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=90
    ),
    part_headers=st.binary(max_size=120),
    payload=st.one_of(st.binary(max_size=300), st.just(b"")),
    closing=st.booleans(),
    extra=st.sampled_from([b"", b"\r\n", b"--", b"garbage"]),
)
def test_fuzzed_multipart_bodies_never_get_a_500(
    app_client: httpx.Client,
    boundary: str,
    part_headers: bytes,
    payload: bytes,
    closing: bool,
    extra: bytes,
) -> None:
    mark = boundary.encode()
    body = b"--" + mark + b"\r\n" + part_headers + b"\r\n\r\n" + payload
    body += (b"\r\n--" + mark + b"--\r\n" if closing else b"") + extra
    answer = app_client.post(
        IMAGE_ROUTE,
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert answer.status_code < 500, (boundary, part_headers, answer.text)
