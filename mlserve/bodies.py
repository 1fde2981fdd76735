"""A request body as every layer passes it: its type, the buffer it is read into, and the
header look-up that sizes it. The transport, the app and the protocol codecs share these,
so that a body read whole by the connection is laid out exactly as the app would lay it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

Body = bytes | bytearray | memoryview  # a request body: as it came, or read into one buffer
# Set in a request's scope by an app that reads the whole body before anything else, to the
# offset that should sit at a 64-byte boundary: a connection that can read the body into one
# buffer (mlserve.transport.wholebody) then does, and hands it over as one memoryview. An app
# that does not set it gets the body in pieces, as plain ASGI bytes.
WHOLE_BODY_SCOPE_KEY = "mlserve.whole_body_align_at"


def header(scope: Mapping[str, Any], name: bytes) -> str | None:
    """One request header (`name` in lower case, as ASGI servers give them), or None."""
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def aligned_buffer(size: int, align_at: int) -> memoryview:
    """`size` uninitialised bytes whose byte `align_at` sits at a 64-byte boundary: numeric
    tensors that start there are used in place, with no aligned copy."""
    block = np.empty(size + 64, dtype=np.uint8)
    shift = -(block.ctypes.data + align_at) % 64
    return block[shift : shift + size].data
