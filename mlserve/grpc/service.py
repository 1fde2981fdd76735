"""`inference.GRPCInferenceService` over the engine: each RPC does what its REST twin does
(mlserve.server.v2, mlserve.server.admin), through the same engine calls and the same V2
mapping, so answers, limits, routing and errors agree.

Every RPC goes through `_call`: the caller's key is checked (the admin key for the
repository RPCs), a request id is bound for the engine's logs, errors become status codes
(mlserve.grpc.errors), and the access line, metrics and console figures are recorded as for
HTTP. The shared-memory, trace and log-settings RPCs are left UNIMPLEMENTED (the generated
base class's answer): mlserve has no shared memory, and its logs are configured at start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import orjson

from mlserve import wire
from mlserve._version import __version__
from mlserve.config.access import Access, key_matches
from mlserve.engine.context import RequestInfo, RequestObserver, current, request_id
from mlserve.engine.core import InferenceCore
from mlserve.engine.placement import leaves_loop, off_loop
from mlserve.errors import MlserveError, Unauthorized
from mlserve.grpc.errors import status_code, trailing_metadata
from mlserve.grpc.statistics import Statistics
from mlserve.protocols.grpc._generated import grpc_service_pb2 as pb
from mlserve.protocols.grpc._generated import grpc_service_pb2_grpc as pb_grpc
from mlserve.protocols.grpc._generated import model_config_pb2 as config_pb
from mlserve.protocols.grpc.codec import decode_request, encode_response
from mlserve.protocols.v2.codec import V2Request
from mlserve.protocols.v2.mapping import (
    metadata,
    model_inputs,
    repository_version,
    to_outputs,
)

log = logging.getLogger("mlserve.grpc")
T = TypeVar("T")
SERVICE = wire.GRPC_SERVICE
PROTOCOL = "grpc"
# Requests of one stream in flight at once: more wait for earlier answers to be read, so a
# client that streams requests and never reads its answers holds a bounded amount of memory.
STREAM_IN_FLIGHT = 32
EXTENSIONS = ["model_repository", "statistics", "binary_tensor_data"]


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(
        self,
        core: InferenceCore,
        access: Access,
        statistics: Statistics,
        requests: RequestObserver | None = None,
    ) -> None:
        self.core = core
        self.access = access
        self.statistics = statistics
        self.requests = requests

    # -- health and metadata ---------------------------------------------------------------

    async def ServerLive(self, request: Any, context: Any) -> Any:
        return await self._call(
            context, "ServerLive", lambda: _now(pb.ServerLiveResponse(live=True))
        )

    async def ServerReady(self, request: Any, context: Any) -> Any:
        return await self._call(
            context, "ServerReady", lambda: _now(pb.ServerReadyResponse(ready=self.core.ready))
        )

    async def ModelReady(self, request: Any, context: Any) -> Any:
        async def ready() -> Any:
            entry = self.core.model(request.name, request.version or None)
            return pb.ModelReadyResponse(ready=entry.status == "ready")

        return await self._call(context, "ModelReady", ready)

    async def ServerMetadata(self, request: Any, context: Any) -> Any:
        answer = pb.ServerMetadataResponse(
            name="mlserve", version=__version__, extensions=EXTENSIONS
        )
        return await self._call(context, "ServerMetadata", lambda: _now(answer))

    async def ModelMetadata(self, request: Any, context: Any) -> Any:
        async def describe() -> Any:
            entry = await self.core.ready_model(request.name, request.version or None)
            info = metadata(entry, self.core.versions(request.name))
            answer = pb.ModelMetadataResponse(
                name=info["name"], versions=info["versions"], platform=info["platform"]
            )
            for where, tensors in (
                (answer.inputs, info["inputs"]),
                (answer.outputs, info["outputs"]),
            ):
                for tensor in tensors:
                    where.add(
                        name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"]
                    )
            return answer

        return await self._call(context, "ModelMetadata", describe)

    async def ModelConfig(self, request: Any, context: Any) -> Any:
        async def configure() -> Any:
            entry = await self.core.ready_model(request.name, request.version or None)
            return pb.ModelConfigResponse(config=model_config(entry, self.core))

        return await self._call(context, "ModelConfig", configure)

    async def ModelStatistics(self, request: Any, context: Any) -> Any:
        async def count() -> Any:
            entries = self.core.entries()
            if request.name:
                self.core.model(request.name, request.version or None)  # NOT_FOUND if unknown
                entries = [e for e in entries if e.spec.name == request.name]
                if request.version:
                    entries = [e for e in entries if e.spec.version == request.version]
            return self.statistics.response(entries)

        return await self._call(context, "ModelStatistics", count)

    # -- inference -------------------------------------------------------------------------

    async def ModelInfer(self, request: Any, context: Any) -> Any:
        return await self._call(context, "ModelInfer", lambda: self._infer(request, context))

    async def ModelStreamInfer(
        self, requests: AsyncIterator[Any], context: Any
    ) -> AsyncIterator[Any]:
        """Each request answered in the stream, in the order answers are ready (each names
        its request's id); a request that fails is answered with its error message in the
        stream, as Triton does, and the stream goes on."""
        try:
            self._authorize(context, admin=False)
        except MlserveError as exc:
            await context.abort(status_code(exc), exc.message)
        slots = asyncio.Semaphore(STREAM_IN_FLIGHT)
        answers: asyncio.Queue[Any] = asyncio.Queue()
        pending: set[asyncio.Task[None]] = set()

        async def answer(request: Any) -> None:
            try:
                result = await self._call(
                    context,
                    "ModelStreamInfer",
                    lambda: self._infer(request, context),
                    in_stream=True,
                )
                await answers.put(pb.ModelStreamInferResponse(infer_response=result))
            except StreamError as exc:
                await answers.put(pb.ModelStreamInferResponse(error_message=exc.message))

        async def read() -> None:
            async for request in requests:
                await slots.acquire()
                task = asyncio.create_task(answer(request))
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.gather(*pending)
            await answers.put(None)

        reader = asyncio.create_task(read())
        try:
            while (message := await answers.get()) is not None:
                yield message
                slots.release()
        finally:
            reader.cancel()
            for task in list(pending):
                task.cancel()

    async def _infer(self, request: Any, context: Any) -> Any:
        core = self.core
        core.model(request.model_name, request.model_version or None)  # unknown: NOT_FOUND first
        parsed: V2Request
        # Raw contents decode to views at once; typed ones become Python lists, which a big
        # message must not build on the loop. (ByteSize walks the whole message: only then.)
        if not request.raw_input_contents and leaves_loop(body_bytes=request.ByteSize()):
            parsed = await off_loop(decode_request, request)
        else:
            parsed = decode_request(request)
        entry = await core.ready_model(request.model_name, request.model_version or None)
        inputs = model_inputs(entry, parsed.inputs)
        started = time.perf_counter()
        answer = await core.predict_decoded(entry, inputs, _gone(context))
        outputs = to_outputs(entry.info, answer.result)
        name, version = entry.spec.name, entry.spec.version
        self.statistics.request(name, version, time.perf_counter() - started)
        if leaves_loop(rows=len(answer.result)):
            return await off_loop(encode_response, name, version, parsed, outputs)
        return encode_response(name, version, parsed, outputs)

    # -- the repository extension (admin key) ----------------------------------------------

    async def RepositoryIndex(self, request: Any, context: Any) -> Any:
        async def index() -> Any:
            rows = self.core.repository_index(ready_only=request.ready)
            return pb.RepositoryIndexResponse(
                models=[pb.RepositoryIndexResponse.ModelIndex(**row) for row in rows]
            )

        return await self._call(context, "RepositoryIndex", index, admin=True)

    async def RepositoryModelLoad(self, request: Any, context: Any) -> Any:
        async def load() -> Any:
            version = repository_version(_parameters(request.parameters))
            await self.core.load_model(request.model_name, version)
            return pb.RepositoryModelLoadResponse()

        return await self._call(context, "RepositoryModelLoad", load, admin=True)

    async def RepositoryModelUnload(self, request: Any, context: Any) -> Any:
        async def unload() -> Any:
            version = repository_version(_parameters(request.parameters))
            await self.core.unload_model(request.model_name, version)
            return pb.RepositoryModelUnloadResponse()

        return await self._call(context, "RepositoryModelUnload", unload, admin=True)

    # -- every RPC ---------------------------------------------------------------------------

    async def _call(
        self,
        context: Any,
        method: str,
        work: Callable[[], Awaitable[T]],
        *,
        admin: bool = False,
        in_stream: bool = False,
    ) -> T:
        """Run one RPC's `work` as a request: authorized, identified, recorded, and its
        errors rendered. `in_stream`: a request inside a stream (the stream was authorized;
        an error is raised as StreamError, for the stream to answer in-band)."""
        info = RequestInfo(request_id(_given_request_id(context)))
        info.headers = _headers(context)
        token = current.set(info)
        started = time.perf_counter()
        status = 200
        try:
            if not in_stream:
                self._authorize(context, admin=admin)
            result = await work()
            for callback in info.after_response:  # e.g. a shadow's copy of this request
                asyncio.get_running_loop().call_soon(callback)
            if not in_stream:
                context.set_trailing_metadata((("x-request-id", info.request_id),))
            return result
        except MlserveError as exc:
            status = exc.http_status
            await self._refuse(context, info, exc, in_stream)
            raise AssertionError("unreachable: _refuse raises") from None
        except Exception as exc:
            if _is_grpc_control(exc):
                raise
            status = 500
            log.exception("gRPC %s failed (request id %s)", method, info.request_id)
            message = f"internal error; the server log has it under request id {info.request_id}"
            await self._refuse(context, info, MlserveError(message), in_stream)
            raise AssertionError("unreachable: _refuse raises") from None
        finally:
            if self.requests is not None:
                seconds = time.perf_counter() - started
                route = f"/{SERVICE}/{method}"
                self.requests.finished(info, PROTOCOL, "GRPC", route, status, seconds)
            current.reset(token)

    async def _refuse(
        self, context: Any, info: RequestInfo, error: MlserveError, in_stream: bool
    ) -> None:
        if in_stream:
            raise StreamError(error.message)
        context.set_trailing_metadata(
            (("x-request-id", info.request_id), *trailing_metadata(error))
        )
        await context.abort(status_code(error), error.message)

    def _authorize(self, context: Any, *, admin: bool) -> None:
        keys = self.access.admin_keys if admin else self.access.api_keys
        if admin and not self.access.admin_on:
            raise Unauthorized(
                "the repository RPCs are off: this server is not on a loopback address and "
                "has no admin key (server.admin_key_env)"
            )
        if keys and not key_matches(_given_key(context), keys):
            which = "admin key" if admin else "API key"
            raise Unauthorized(
                f"missing or wrong {which}; send metadata authorization: Bearer <key> "
                "or x-api-key: <key>"
            )


class StreamError(Exception):
    """A request inside a stream failed: answered in the stream with this message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def _now(value: T) -> T:
    return value


def _metadata(context: Any) -> tuple[Any, ...]:
    return tuple(context.invocation_metadata() or ())


def _headers(context: Any) -> list[tuple[bytes, bytes]]:
    """The call's metadata as header pairs (what the engine reads a routing key from)."""
    return [
        (item.key.encode("latin-1"), item.value.encode("latin-1"))
        for item in _metadata(context)
        if isinstance(item.value, str)
    ]


def _given_request_id(context: Any) -> str | None:
    for item in _metadata(context):
        if item.key == "x-request-id" and isinstance(item.value, str):
            return str(item.value)
    return None


def _given_key(context: Any) -> bytes:
    given = ""
    for item in _metadata(context):
        if not isinstance(item.value, str):
            continue
        if item.key == "authorization" and item.value[:7].lower() == "bearer ":
            given = item.value[7:].strip()
        elif item.key == "x-api-key":
            given = item.value.strip()
    return given.encode()


def _gone(context: Any) -> Callable[[], Awaitable[bool]]:
    async def gone() -> bool:
        return bool(context.cancelled()) or (
            context.time_remaining() is not None and context.time_remaining() <= 0
        )

    return gone


def _is_grpc_control(error: Exception) -> bool:
    """An abort (raised by `context.abort`) or a cancelled call: not a failure of ours."""
    return isinstance(error, asyncio.CancelledError | grpc.aio.AbortError)


def _parameters(parameters: Any) -> dict[str, Any]:
    """A repository request's parameters as plain values."""
    values: dict[str, Any] = {}
    for key, parameter in parameters.items():
        choice = parameter.WhichOneof("parameter_choice")
        values[key] = getattr(parameter, choice) if choice else None
    return values


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


# V2 datatypes as Triton's model configuration names them.
CONFIG_TYPES = {"BYTES": "TYPE_STRING"}


def model_config(entry: Any, core: InferenceCore) -> Any:
    """What Triton's configuration of this model would say, from what the engine knows:
    the batch dimension is implicit (max_batch_size > 0) and left out of each `dims`."""
    spec = entry.spec
    info = metadata(entry, core.versions(spec.name))
    batching = spec.batching
    config = config_pb.ModelConfig(
        name=spec.name,
        platform=info["platform"],
        backend=spec.runtime,
        max_batch_size=max(core.limits.max_batch_rows, 1),
    )
    for field, tensors in (("input", info["inputs"]), ("output", info["outputs"])):
        for tensor in tensors:
            datatype = CONFIG_TYPES.get(tensor["datatype"], f"TYPE_{tensor['datatype']}")
            dims = list(tensor["shape"][1:]) or [1]
            getattr(config, field).add(
                name=tensor["name"], data_type=config_pb.DataType.Value(datatype), dims=dims
            )
    if batching.max_batch_size > 1:
        config.dynamic_batching.max_queue_delay_microseconds = int(batching.max_wait_ms * 1000)
        config.dynamic_batching.preferred_batch_size.append(batching.max_batch_size)
    # What the gRPC metadata message has no field for, and a client needs to read answers
    # as the JSON routes give them: the kind of input, and the labels (as text, and as the
    # JSON routes answer them), JSON-encoded.
    label: dict[str, Any] = next((t for t in info["outputs"] if t["name"] == "label"), {})
    extras = {
        "input_kind": entry.info.input_kind,
        "labels": _json(label.get("labels")),
        "label_values": _json(label.get("label_values")),
    }
    for key, value in extras.items():
        config.parameters[key].string_value = value
    return config
