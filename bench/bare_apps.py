"""Ceilings for the HTTP path: what one JSON row costs with no model and no mlserve.

    uvicorn bench.bare_apps:fastapi_app     # a FastAPI route: parse the row, answer
    uvicorn bench.bare_apps:asgi_app        # a bare ASGI app doing the same by hand

Both read the body, parse it with orjson, check it holds 20 features and answer a fixed
prediction of the same shape as mlserve's, so the difference to mlserve is mlserve's own cost.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

ANSWER = orjson.dumps(
    {
        "model": "m",
        "version": "v1",
        "prediction": 0,
        "confidence": 0.5,
        "probabilities": {"0": 0.5, "1": 0.3, "2": 0.2},
    }
)
fastapi_app = FastAPI()


@fastapi_app.post("/predict")
async def predict(request: Request) -> Response:
    row = orjson.loads(await request.body())
    if len(row["features"]) != 20:
        return Response(b'{"error": "bad row"}', status_code=422)
    return Response(ANSWER, media_type="application/json")


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    row = orjson.loads(b"".join(chunks))
    status, answer = (200, ANSWER) if len(row["features"]) == 20 else (422, b"{}")
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": answer})
