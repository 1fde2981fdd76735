"""The same manifest on Ray Serve: one deployment per model version, and mlserve's own HTTP
front in every `mlserve serve --backend ray` process.

    HTTP -> mlserve front (this process: uvicorn, routes, V2, validation, adaptive
            batching, metrics, errors) -> deployment handle -> model replicas (one runtime each)

No Ray proxy and no ingress replica sit on the request path: the front is the unchanged
mlserve app whose runtimes are `RayRuntime` proxies, so the HTTP API, JSON and errors are the
single-process server's, and each front batches its own traffic: one Ray call per batch, the
batch a numpy array. Start one front per node (`--ray-address` joins the cluster): they share
the model deployments, and a front that dies leaves the others serving. The front keeps two
batches in flight per replica: while one computes, the next is on its way.

Reload (SIGHUP, the admin route, `--watch`): the front deploys the old and the new versions
together, switches its own core over (the same zero-failure swap as one process), then
removes the versions that left. Other fronts switch when they are reloaded themselves.

Retry policy: inference has no side effects, so a model call whose replica died (killed, node
lost) is sent again, up to `RETRIES` times; Ray Serve routes it to a live replica and starts a
replacement for the dead one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import ray
from ray import serve
from ray.exceptions import ActorUnavailableError, RayActorError
from ray.serve.handle import DeploymentHandle

from mlserve.config.load import load_manifest
from mlserve.config.schema import Manifest, ModelSpec
from mlserve.engine.core import InferenceCore
from mlserve.engine.registry import local_runtime
from mlserve.errors import ManifestError, ReloadRefused
from mlserve.runtimes._base import Batch, BatchPrediction, Runtime, RuntimeInfo

log = logging.getLogger("mlserve.ray")

APP_NAME = "mlserve"
INGRESS = "mlserve-models"

RETRIES = 3
STATUS_TTL_S = 2.0


def deployment_name(spec: ModelSpec) -> str:
    return f"model-{spec.name}-{spec.version}"


class ModelReplica:
    """One copy of one model version, in its own Ray actor."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = ModelSpec.model_validate(spec)
        self.error: str | None = None
        try:
            self.runtime: Runtime | None = local_runtime(self.spec)
            self.runtime.load()
        except Exception as exc:  # the model fails, the deployment (and the app) stay up
            self.runtime, self.error = None, f"{type(exc).__name__}: {exc}"

    def describe(self) -> RuntimeInfo:
        if self.runtime is None:
            raise RuntimeError(self.error)
        return self.runtime.describe()

    def predict(self, batch: Batch) -> BatchPrediction:
        if self.runtime is None:
            raise RuntimeError(self.error)
        return self.runtime.predict(batch)


class RayRuntime(Runtime):
    """The ingress side of a model deployment: a Runtime whose work happens in replicas."""

    _handle: DeploymentHandle[Any]
    _info: RuntimeInfo
    _checked_at = 0.0

    def load(self) -> None:
        self._handle = serve.get_deployment_handle(deployment_name(self.spec), APP_NAME)
        self._info = self._call("describe")

    def unload(self) -> None:
        """The model lives in its replicas, which `deploy` removes; only the handle is here."""
        self.__dict__.pop("_handle", None)

    def describe(self) -> RuntimeInfo:
        if time.monotonic() - self._checked_at > STATUS_TTL_S:
            self._checked_at = time.monotonic()
            self._info = _with_replicas(self._info, deployment_name(self.spec))
        return self._info

    def predict(self, batch: Batch) -> BatchPrediction:
        result: BatchPrediction = self._call("predict", batch)
        return result

    def _call(self, method: str, *args: Any) -> Any:
        for attempt in range(RETRIES + 1):
            try:
                return getattr(self._handle, method).remote(*args).result()
            except (RayActorError, ActorUnavailableError) as exc:
                if attempt == RETRIES:
                    raise
                log.warning(
                    "replica of %s lost during %s (%s); retrying",
                    self.spec.key,
                    method,
                    type(exc).__name__,
                )
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")


def _with_replicas(info: RuntimeInfo, name: str) -> RuntimeInfo:
    """The running replica count, and each replica's node and state."""
    from dataclasses import replace

    try:
        deployment = serve.status().applications[APP_NAME].deployments[name]
    except (KeyError, RuntimeError):
        return info
    running = sum(
        n
        for state, n in deployment.replica_states.items()
        if str(getattr(state, "value", state)) == "RUNNING"
    )
    return replace(info, replicas=running, replica_details=_replica_details(name))


def _replica_details(name: str) -> list[dict[str, str]] | None:
    """From the Serve controller's details (Ray's dashboard shows the same); None where this
    Ray version does not give them."""
    try:
        from ray.serve.context import _get_global_client

        client = _get_global_client()
        if client is None:
            return None
        details = client.get_serve_details()
        replicas = details["applications"][APP_NAME]["deployments"][name]["replicas"]
        return [
            {"node": str(r["node_ip"]), "state": str(getattr(r["state"], "value", r["state"]))}
            for r in replicas
        ]
    except Exception:  # a private API: its absence costs only this detail
        return None


def ingress_manifest(manifest: Manifest) -> Manifest:
    """The front's manifest: two batches in flight per replica of each model."""
    models = [
        m.model_copy(update={"max_concurrency": m.max_concurrency or 2 * _max_replicas(m)})
        for m in manifest.models
    ]
    return manifest.model_copy(update={"models": models})


def _max_replicas(spec: ModelSpec) -> int:
    return spec.autoscaling.max_replicas if spec.autoscaling else spec.replicas or 1


def model_deployment(spec: ModelSpec) -> Any:
    options: dict[str, Any] = {
        "name": deployment_name(spec),
        "ray_actor_options": {
            "num_cpus": spec.resources.num_cpus,
            "num_gpus": spec.resources.num_gpus,
        },
        "max_ongoing_requests": 16,
    }
    if spec.autoscaling:
        options["autoscaling_config"] = spec.autoscaling.model_dump()
    else:
        options["num_replicas"] = spec.replicas or 1
    replica = serve.deployment(ModelReplica).options(**options)  # type: ignore[attr-defined]
    # What the replica needs, without what only the front uses: moving the default or a
    # front's concurrency must not restart a deployment.
    own = spec.model_copy(update={"default": False, "max_concurrency": None})
    return replica.bind(own.model_dump(mode="json"))


class ModelSet:
    """The application's ingress: holds the model deployments; serves no HTTP (the fronts do)."""

    def __init__(self, *models: Any) -> None:
        self.models = len(models)

    def __call__(self) -> int:
        return self.models


def deploy(manifest: Manifest) -> None:
    """Deploy (or update in place) one deployment per model version of `manifest`."""
    models = [model_deployment(spec) for spec in manifest.models]
    ingress = serve.deployment(ModelSet, name=INGRESS, ray_actor_options={"num_cpus": 0})
    app = ingress.bind(*models)  # type: ignore[attr-defined]
    serve.run(app, name=APP_NAME, route_prefix=None, blocking=False)


def together(old: Manifest, new: Manifest) -> Manifest:
    """Every version of either manifest (the new one's spec where both have it)."""
    keys = {m.key for m in new.models}
    return new.model_copy(
        update={"models": [*new.models, *(m for m in old.models if m.key not in keys)]}
    )


def front_reload() -> Callable[[InferenceCore], Awaitable[dict[str, list[str]]]]:
    """A reload without a failed request: deploy old and new versions together, switch the
    front's core, then remove what left."""
    lock = asyncio.Lock()

    async def reload(core: InferenceCore) -> dict[str, list[str]]:
        async with lock:
            try:
                new = await asyncio.to_thread(load_manifest, core.manifest.source)
            except ManifestError as exc:
                log.error("reload refused: %s", exc)
                raise ReloadRefused(str(exc)) from None
            await asyncio.to_thread(deploy, together(core.manifest, new))
            report = await core.reload(ingress_manifest(new))
            await asyncio.to_thread(deploy, new)
            return report

    return reload


def run(manifest: Manifest, address: str | None) -> None:
    """Start (or join) Ray, deploy the models, and serve HTTP from this process until
    SIGTERM/SIGINT."""
    from mlserve.server.app import create_app
    from mlserve.transport.run import grpc_front, listening_socket, serve_app, server_engine

    # Reloads read it again from its path, wherever the process was started.
    manifest = manifest.model_copy(update={"source": manifest.source.absolute()})
    joined = address is not None
    engine = server_engine(ingress_manifest(manifest), RayRuntime)
    # The front serves gRPC beside HTTP as a plain server does, on the same engine.
    app = create_app(engine, reload=front_reload(), fronts=grpc_front(manifest.server))
    # Bound before Ray starts: Ray's processes take ports of their own, and one took a front's
    # port between the user's choice and uvicorn's bind (seen in CI).
    sock = listening_socket(app, manifest.server)
    ray.init(
        address=address or "local",  # "local": a new instance, never a stale one
        namespace="mlserve",
        log_to_driver=False,
        logging_level=logging.WARNING,
        include_dashboard=False,
    )
    serve.start(proxy_location="Disabled")  # the fronts serve HTTP, not Ray's proxy
    deploy(manifest)
    log.warning(
        "mlserve on Ray Serve: front http://%s:%d (%s)",
        manifest.server.host,
        manifest.server.port,
        f"joined {address}" if joined else "local Ray instance",
    )
    serve_app(app, manifest.server, sock)  # until SIGTERM/SIGINT, finishing accepted requests
    if not joined:
        # The local instance this command started goes with it; on a cluster the model
        # deployments stay for the other fronts (`serve shutdown` removes them).
        teardown = threading.Thread(target=_teardown, daemon=True)
        teardown.start()
        teardown.join(timeout=manifest.server.shutdown_grace_s + 30)
    os._exit(0)  # Ray's own exit hooks can hang on a small machine; all is stopped by now


def _teardown() -> None:
    try:
        serve.delete(APP_NAME)
    finally:
        ray.shutdown()
