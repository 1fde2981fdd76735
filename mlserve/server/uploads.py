"""Multipart image uploads (`curl -F file=@digit.png`), read within the image limit."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from mlserve.errors import InputError, LimitExceeded
from mlserve.manifest import LimitsSpec

_MULTIPART_OVERHEAD = 64 * 1024


async def read_upload(request: Request, limits: LimitsSpec) -> dict[str, Any]:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_image_bytes + _MULTIPART_OVERHEAD:
        raise LimitExceeded(
            f"upload is {declared} bytes; the image limit is {limits.max_image_bytes}"
        )
    try:
        async with request.form(
            max_files=1, max_fields=8, max_part_size=limits.max_image_bytes
        ) as form:
            upload = next((v for v in form.values() if isinstance(v, UploadFile)), None)
            if upload is None:
                raise InputError("the multipart body has no file; send -F file=@image.png")
            data = await upload.read(limits.max_image_bytes + 1)
    except MultiPartException as exc:
        raise InputError(f"malformed multipart body: {exc.message}") from None
    if len(data) > limits.max_image_bytes:
        raise LimitExceeded(f"image is over the limit of {limits.max_image_bytes} bytes")
    return {"image_bytes": data}
