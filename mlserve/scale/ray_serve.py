"""The same manifest on Ray Serve: one deployment per model version, one ingress.

    HTTP -> Ray Serve proxy -> ingress deployment (mlserve's own FastAPI app: routes, V2,
            validation, adaptive batching, metrics, errors)
         -> deployment handle -> model deployment replicas (one runtime each)

The ingress is the unchanged mlserve app whose runtimes are `RayRuntime` proxies, so the HTTP
API, JSON and errors are exactly the single-process server's. Batching stays mlserve's: each
ingress coalesces concurrent requests per model version and sends one batch per call, so a
replica gets whole batches and a request costs no Ray round trip of its own (Ray's
`@serve.batch` would batch again after that round trip). The ingress keeps as many batches in
flight as the model has replicas.

Reload: the driver (the `mlserve serve --backend ray` process) applies a changed manifest as
an in-place update of the Ray Serve application (`serve.run` again: Ray rolls changed
deployments over and keeps the others). It does so on SIGHUP, and when an ingress asks it to
(the admin reload route, `--watch`) through a small named actor, which works wherever on the
cluster the ingress runs.

Retry policy: inference has no side effects, so a model call whose replica died (killed, node
lost) is sent again, up to `RETRIES` times; Ray Serve routes it to a live replica and starts a
replacement for the dead one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from typing import Any

import ray
from ray import serve
from ray.exceptions import ActorUnavailableError, RayActorError
from ray.serve.handle import DeploymentHandle

from mlserve.errors import ManifestError, ReloadRefused
from mlserve.manifest import Manifest, ModelSpec, load_manifest
from mlserve.registry import local_runtime
from mlserve.runtimes.base import Batch, BatchPrediction, Runtime, RuntimeInfo

log = logging.getLogger("mlserve.ray")

APP_NAME = "mlserve"
INGRESS = "mlserve-ingress"
RELOADS = "mlserve-reloads"  # the named actor through which ingresses ask for a reload
NAMESPACE = "mlserve"
RELOAD_POLL_S = 1.0
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


@ray.remote(num_cpus=0)
class ReloadRequests:
    """Counts reload requests; the driver waits for the count to move."""

    def __init__(self) -> None:
        self.count = 0

    async def request(self) -> int:
        self.count += 1
        return self.count

    async def wait(self, seen: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.count == seen and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.count


def request_reload(source: str) -> Any:
    """The ingress's reload: check the manifest here (a broken one is refused with the
    message `validate` gives), then have the driver update the application."""

    async def reload() -> dict[str, list[str]]:
        try:
            await asyncio.to_thread(load_manifest, source)
        except ManifestError as exc:
            log.error("reload refused: %s", exc)
            raise ReloadRefused(str(exc)) from None
        requests = ray.get_actor(RELOADS, namespace=NAMESPACE)
        await requests.request.remote()
        return {"requested": [f"in-place update of the Ray Serve application {APP_NAME!r}"]}

    return reload


def _with_replicas(info: RuntimeInfo, name: str) -> RuntimeInfo:
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
    return replace(info, replicas=running)


def ingress_manifest(manifest: Manifest) -> Manifest:
    """Keep as many batches in flight per model as it has replicas."""
    models = [
        m.model_copy(update={"max_concurrency": m.max_concurrency or _max_replicas(m)})
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
    return replica.bind(spec.model_dump(mode="json"))


def build_app(manifest: Manifest) -> Any:
    """A Ray Serve application: the model deployments and the mlserve ingress."""
    served = ingress_manifest(manifest)

    def asgi_app() -> Any:  # built on the ingress replica, not here
        from mlserve.server.app import create_app

        # Ray's proxy echoes X-Request-ID itself; the app must not add a second one.
        return create_app(
            served,
            runtime_factory=RayRuntime,
            echo_request_id=False,
            reload=request_reload(str(served.source)),
        )

    ingress = serve.deployment(
        serve.ingress(asgi_app)(),
        name=INGRESS,
        max_ongoing_requests=4096,
        ray_actor_options={"num_cpus": 0.25},
    )
    return ingress.bind(*[model_deployment(spec) for spec in manifest.models])  # type: ignore[attr-defined]


def run(manifest: Manifest, address: str | None) -> None:
    """Start (or join) Ray, deploy, and serve until SIGTERM/SIGINT."""
    spec = manifest.server
    # Ingress replicas read it again on a reload, from their own working directory.
    manifest = manifest.model_copy(update={"source": manifest.source.resolve()})
    joined = address is not None
    ray.init(
        address=address or "local",  # "local": a new instance, never a stale one
        namespace="mlserve",
        log_to_driver=False,
        logging_level=logging.WARNING,
        include_dashboard=False,
    )
    serve.start(http_options={"host": spec.host, "port": spec.port})
    requests = ReloadRequests.options(  # type: ignore[attr-defined]
        name=RELOADS, namespace=NAMESPACE, get_if_exists=True
    ).remote()
    serve.run(build_app(manifest), name=APP_NAME, route_prefix="/", blocking=False)
    log.info(
        "mlserve on Ray Serve: http://%s:%d (%s)",
        spec.host,
        spec.port,
        f"joined {address}" if joined else "local Ray instance",
    )
    stop, hangup = threading.Event(), threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: hangup.set())
    seen = 0
    while not stop.is_set():
        count = ray.get(requests.wait.remote(seen, RELOAD_POLL_S))
        if count != seen or hangup.is_set():
            seen = count
            hangup.clear()
            manifest = _update(manifest)
    # Drain: Ray Serve lets replicas finish what they hold, then stops them. Leave a joined
    # cluster running; tear down the local instance this command started.
    teardown = threading.Thread(target=_teardown, args=(joined,), daemon=True)
    teardown.start()
    teardown.join(timeout=spec.shutdown_grace_s + 30)
    os._exit(0)  # Ray's own exit hooks can hang on a small machine; all is stopped by now


def _update(manifest: Manifest) -> Manifest:
    """Apply the manifest file as it is now (its `server` section needs a restart)."""
    try:
        new = load_manifest(manifest.source)
    except ManifestError as exc:
        log.error("reload refused: %s", exc)
        return manifest
    new = new.model_copy(update={"server": manifest.server})
    serve.run(build_app(new), name=APP_NAME, route_prefix="/", blocking=False)
    log.warning("reloaded %s: Ray Serve updates the application in place", manifest.source)
    return new


def _teardown(joined: bool) -> None:
    try:
        serve.delete(APP_NAME)
    finally:
        if not joined:
            ray.shutdown()
