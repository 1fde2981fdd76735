"""Prometheus metrics (prometheus-client) and the /metrics route.

Under `serve --workers N` every worker writes its numbers to files in
$PROMETHEUS_MULTIPROC_DIR (set by `serve`), and /metrics, whichever worker answers it, adds
them up: counters and histograms sum over workers, the queue gauge sums live workers, and
model state shows each worker's own view (label `pid`).
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from starlette.responses import Response

from mlserve import wire
from mlserve.config.schema import ModelSpec
from mlserve.engine.observers import CoreObserver
from mlserve.engine.registry import ModelEntry

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096, 16384, 65536)
STATES = ("not_loaded", "loading", "ready", "failed", "unloaded")


class Metrics(CoreObserver):
    """One set of collectors per app, so several apps can live in one process (tests)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # The process's own CPU, memory and open files (process_*), as a scrape expects.
        ProcessCollector(registry=r)
        # protocol: http or grpc; a gRPC route is its method (/inference.../ModelInfer) and
        # its status the HTTP status of the same answer (an error's HTTP twin).
        self.requests = Counter(
            "mlserve_requests",
            "Requests by protocol, route, model and status",
            ["protocol", "route", "model", "version", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "mlserve_request_duration_seconds",
            "Request latency",
            ["protocol", "route", "model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_rows = Histogram(
            "mlserve_batch_rows",
            "Rows per model call (batch size)",
            ["model", "version"],
            buckets=ROW_BUCKETS,
            registry=r,
        )
        self.inference = Histogram(
            "mlserve_inference_duration_seconds",
            "Model call time",
            ["model", "version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue = Gauge(
            "mlserve_queue_depth",
            "Requests queued for a model version",
            ["model", "version"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.state = Gauge(
            "mlserve_model_state",
            "1 for the model version's current state",
            ["model", "version", "state"],
            multiprocess_mode="liveall",
            registry=r,
        )
        self.load_seconds = Gauge(
            "mlserve_model_load_seconds",
            "Seconds the last load took",
            ["model", "version"],
            multiprocess_mode="liveall",
            registry=r,
        )
        self.shadow_requests = Counter(
            "mlserve_shadow_requests",
            "Copies of requests sent to a shadow version, by outcome (compared, error, dropped)",
            ["model", "version", "outcome"],
            registry=r,
        )
        self.shadow_rows = Counter(
            "mlserve_shadow_rows",
            "Rows a shadow version answered, and how many of them agreed with the primary",
            ["model", "version", "agreed"],
            registry=r,
        )
        self.shadow_agreement = Gauge(
            "mlserve_shadow_agreement",
            "Share of rows on which the shadow agreed with the primary answer (same label, or "
            "within the manifest's tolerance)",
            ["model", "version"],
            multiprocess_mode="liveall",
            registry=r,
        )
        self.shadow_latency = Histogram(
            "mlserve_shadow_duration_seconds",
            "Shadow call time",
            ["model", "version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.reloads = Counter(
            "mlserve_reloads",
            "Manifest reloads: applied, or refused (a broken manifest changes nothing)",
            ["outcome"],
            registry=r,
        )
        self.reload_load_failures = Counter(
            "mlserve_reload_load_failures",
            "Versions a reload could not load (a changed one keeps its previous files)",
            ["model", "version"],
            registry=r,
        )
        self._request_children: dict[tuple[str, str | None, str | None, int, str], Any] = {}
        self._call_children: dict[str, Any] = {}
        self._queue_children: dict[str, Any] = {}

    def observe_request(
        self,
        route: str,
        model: str | None,
        version: str | None,
        status: int,
        seconds: float,
        protocol: str = "http",
    ) -> None:
        # prometheus-client's labels() costs more than the rest of this method: each label
        # set is looked up once and kept.
        key = (route, model, version, status, protocol)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.requests.labels(protocol, route, model or "", version or "", str(status)),
                self.latency.labels(protocol, route, model or ""),
            )
        children[0].inc()
        children[1].observe(seconds)

    def model_call(self, spec: ModelSpec, rows: int, seconds: float) -> None:
        children = self._call_children.get(spec.key)
        if children is None:
            children = self._call_children[spec.key] = (
                self.batch_rows.labels(spec.name, spec.version),
                self.inference.labels(spec.name, spec.version),
            )
        children[0].observe(rows)
        children[1].observe(seconds)

    def queue_depth(self, spec: ModelSpec, depth: int) -> None:
        child = self._queue_children.get(spec.key)  # set on every submit: labels() once
        if child is None:
            child = self._queue_children[spec.key] = self.queue.labels(spec.name, spec.version)
        child.set(depth)

    def model_state(self, entry: ModelEntry) -> None:
        for state in STATES:
            self.state.labels(entry.spec.name, entry.spec.version, state).set(
                int(entry.status == state)
            )
        if entry.load_seconds is not None:
            self.load_seconds.labels(entry.spec.name, entry.spec.version).set(entry.load_seconds)

    def reloaded(self, outcome: str, failed: list[str]) -> None:
        self.reloads.labels(outcome).inc()
        for key in failed:
            model, _, version = key.partition(":")
            self.reload_load_failures.labels(model, version).inc()

    def shadow_call(
        self,
        model: str,
        version: str,
        outcome: str,
        rows: int,
        agreed: int,
        seconds: float,
        agreement: float | None = None,
    ) -> None:
        """One copy's outcome; `agreement`: the shadow's share of agreeing rows so far."""
        self.shadow_requests.labels(model, version, outcome).inc()
        if outcome != "compared":
            return
        self.shadow_latency.labels(model, version).observe(seconds)
        self.shadow_rows.labels(model, version, "yes").inc(agreed)
        self.shadow_rows.labels(model, version, "no").inc(rows - agreed)
        if agreement is not None:
            self.shadow_agreement.labels(model, version).set(agreement)

    def render(self) -> bytes:
        if os.environ.get(MULTIPROCESS_ENV):
            combined = CollectorRegistry()
            multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
            return without_created(generate_latest(combined))
        return without_created(generate_latest(self.registry))


def without_created(text: bytes) -> bytes:
    """The exposition without the `*_created` samples: a timestamp per labelled series that
    doubles the series a scrape stores and that no dashboard reads. Dropped here rather than
    by prometheus-client's global switch, which would change an embedding program's metrics."""
    return b"".join(
        line
        for line in text.splitlines(keepends=True)
        if not line.split(b"{", 1)[0].split(b" ", 1)[0].endswith(b"_created")
    )


def metrics_router(metrics: Metrics) -> APIRouter:
    router = APIRouter(tags=["status"])

    @router.get(wire.METRICS, summary="Prometheus metrics", response_class=Response)
    async def scrape(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return router
