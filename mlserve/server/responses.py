"""orjson responses: several times faster than the stdlib encoder on prediction lists."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse, Response

from mlserve import wire
from mlserve.engine.answers import Answer
from mlserve.engine.placement import leaves_loop, off_loop

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=_OPTIONS)


async def answer_json(answer: Answer) -> bytes:
    """The answer as JSON. A big one (100,000 rows: about 0.3 s of building and encoding) is
    built in a worker thread, so that the event loop keeps answering probes meanwhile."""
    if not leaves_loop(rows=len(answer.result)):
        return _encode(answer)
    return await off_loop(_encode, answer)


def answer_headers(answer: Answer) -> dict[str, str]:
    """Which version answered: a split or an alias may have chosen it."""
    return {wire.MODEL_VERSION_HEADER: answer.entry.spec.version}


async def answer_response(answer: Answer) -> Response:
    content = await answer_json(answer)
    return Response(content, media_type="application/json", headers=answer_headers(answer))


def _encode(answer: Answer) -> bytes:
    return orjson.dumps(answer.body(), option=_OPTIONS)
