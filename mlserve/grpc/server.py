"""The gRPC server's lifetime beside HTTP: started on the engine the HTTP app serves, in its
event loop, once the app starts; stopped (in-flight calls finished, up to the grace period)
when it stops.

Besides the inference service it serves the standard `grpc.health.v1.Health` (the server as
"", each model by name: SERVING once its default version is loaded) and server reflection
(so `grpcurl` needs no proto files). The largest message it takes is the manifest's body
limit, not gRPC's 4 MiB default.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

from mlserve.config.access import Access
from mlserve.config.schema import ServerSpec
from mlserve.engine.context import RequestObserver
from mlserve.engine.core import InferenceCore
from mlserve.errors import CouldNotStart, ModelNotFound
from mlserve.grpc.service import SERVICE, InferenceService
from mlserve.grpc.statistics import Statistics
from mlserve.protocols.grpc._generated import POOL
from mlserve.protocols.grpc._generated import grpc_service_pb2_grpc as pb_grpc

log = logging.getLogger("mlserve.grpc")
HEALTH = "grpc.health.v1.Health"
WATCH_EVERY_S = 1.0  # how often a Watch stream looks for a change of status

# The health and reflection services' own descriptors, in mlserve's pool too: reflection
# answers from that one pool, and grpcurl asks it for every service it calls.
for _descriptor in (health_pb2.DESCRIPTOR, reflection_pb2.DESCRIPTOR):
    with contextlib.suppress(TypeError):  # already added (a second import of this module)
        POOL.AddSerializedFile(_descriptor.serialized_pb)


def grpc_options(spec: ServerSpec) -> list[tuple[str, Any]]:
    limit = spec.limits.max_body_bytes
    return [
        ("grpc.max_receive_message_length", limit),
        ("grpc.max_send_message_length", -1),  # answers are bounded by the rows asked for
        # Several processes share the port only under --workers; otherwise a second server
        # on the port is refused, not handed half the calls.
        ("grpc.so_reuseport", 1 if spec.workers > 1 else 0),
        ("grpc.max_concurrent_streams", 1000),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


@contextlib.asynccontextmanager
async def serving_grpc(
    core: InferenceCore, requests: RequestObserver | None = None, *, spec: ServerSpec
) -> AsyncIterator[grpc.aio.Server]:
    """Serve gRPC on `spec.host:spec.grpc_port` while the block runs."""
    server = grpc.aio.server(options=grpc_options(spec))
    statistics = Statistics()
    core.observe(statistics)
    service = InferenceService(core, Access.of(spec), statistics, requests)
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(service, server)  # type: ignore[no-untyped-call]
    health_pb2_grpc.add_HealthServicer_to_server(Health(core), server)
    reflection.enable_server_reflection((SERVICE, HEALTH, reflection.SERVICE_NAME), server, POOL)
    address = f"{spec.host}:{spec.grpc_port}"
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise CouldNotStart(
            f"gRPC cannot listen on {address} ({exc}); pass --grpc-port or --no-grpc"
        ) from None
    await server.start()
    log.info("gRPC (Open Inference Protocol) on %s:%d", spec.host, port)
    try:
        yield server
    finally:
        await server.stop(spec.shutdown_grace_s)


class Health(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """Statuses read from the engine when asked: "" is the whole server (every startup
    model loaded), a model's name is that model (its default version loaded)."""

    def __init__(self, core: InferenceCore) -> None:
        self.core = core

    def status(self, service: str) -> Any:
        serving = health_pb2.HealthCheckResponse.SERVING
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        if service in ("", SERVICE):
            return serving if self.core.ready else not_serving
        try:
            entry = self.core.model(service)
        except ModelNotFound:
            return None
        return serving if entry.status == "ready" else not_serving

    async def Check(self, request: Any, context: Any) -> Any:
        status = self.status(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, request: Any, context: Any) -> AsyncIterator[Any]:
        last = None
        while True:
            status = self.status(request.service)
            if status is None:
                status = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
            if status != last:
                last = status
                yield health_pb2.HealthCheckResponse(status=status)
            await asyncio.sleep(WATCH_EVERY_S)
