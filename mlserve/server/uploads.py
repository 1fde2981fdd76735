"""Multipart image uploads (`curl -F file=@digit.png`), parsed as the bytes arrive.

The body is counted as it streams in, chunked or not, and refused the moment it passes the
image limit: nothing is spooled to disk, and at most the limit is held in memory.
"""

from __future__ import annotations

from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from mlserve.config.schema import LimitsSpec
from mlserve.errors import ClientGone, InputError, LimitExceeded

_MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the image


class _FirstFile:
    """python-multipart callbacks that keep the bytes of the first part with a filename."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.found = False
        self.done = False
        self._in_file = False
        self._field = b""
        self._headers: dict[bytes, bytes] = {}

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _begin(self) -> None:
        self._headers, self._field = {}, b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field = data[start:end].lower()

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._headers[self._field] = self._headers.get(self._field, b"") + data[start:end]

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._in_file = not self.found and b"filename" in options
        self.found |= self._in_file

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.data += data[start:end]

    def _part_end(self) -> None:
        if self._in_file:
            self.done, self._in_file = True, False


async def read_upload(request: Request, limits: LimitsSpec) -> dict[str, Any]:
    limit = limits.max_image_bytes + _MULTIPART_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise LimitExceeded(
            f"upload is {declared} bytes; the image limit is {limits.max_image_bytes}"
        )
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise InputError("the multipart body has no boundary; send -F file=@image.png")
    upload = _FirstFile()
    received = 0
    try:
        # The parser refuses a boundary past 256 bytes when it is made, a malformed body as
        # it goes: both are the caller's mistake.
        parser = MultipartParser(boundary, upload.callbacks())  # type: ignore[arg-type]
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit or len(upload.data) > limits.max_image_bytes:
                raise LimitExceeded(f"image is over the limit of {limits.max_image_bytes} bytes")
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise InputError(f"malformed multipart body: {exc}") from None
    except ClientDisconnect:
        raise ClientGone("the client left while uploading") from None
    if not upload.done:
        raise InputError("the multipart body has no file; send -F file=@image.png")
    if len(upload.data) > limits.max_image_bytes:
        raise LimitExceeded(f"image is over the limit of {limits.max_image_bytes} bytes")
    return {"image_bytes": bytes(upload.data)}
