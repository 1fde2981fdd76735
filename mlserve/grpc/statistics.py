"""Triton's model statistics (what perf_analyzer and Triton's tooling read), from what the
engine tells: every model call (rows, seconds) and every answered request per version."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from mlserve.config.schema import ModelSpec
from mlserve.engine.observers import CoreObserver
from mlserve.protocols.grpc._generated import grpc_service_pb2 as pb

NS = 1_000_000_000


@dataclass
class VersionCounts:
    requests: int = 0  # answered inference requests (any protocol's, counted by gRPC's own)
    request_ns: int = 0
    executions: int = 0  # model calls (a batch is one)
    rows: int = 0
    compute_ns: int = 0
    last_ms: int = 0  # when the last inference ended, in ms since the epoch


class Statistics(CoreObserver):
    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], VersionCounts] = {}

    def _of(self, name: str, version: str) -> VersionCounts:
        key = (name, version)
        found = self.counts.get(key)
        if found is None:
            found = self.counts[key] = VersionCounts()
        return found

    def model_call(self, spec: ModelSpec, rows: int, seconds: float) -> None:
        counts = self._of(spec.name, spec.version)
        counts.executions += 1
        counts.rows += rows
        counts.compute_ns += int(seconds * NS)
        counts.last_ms = int(time.time() * 1000)

    def request(self, name: str, version: str, seconds: float) -> None:
        counts = self._of(name, version)
        counts.requests += 1
        counts.request_ns += int(seconds * NS)

    def response(self, entries: list[Any]) -> Any:
        answer = pb.ModelStatisticsResponse()
        for entry in entries:
            counts = self._of(entry.spec.name, entry.spec.version)
            stats = answer.model_stats.add(
                name=entry.spec.name,
                version=entry.spec.version,
                last_inference=counts.last_ms,
                inference_count=counts.rows,
                execution_count=counts.executions,
            )
            stats.inference_stats.success.count = counts.requests
            stats.inference_stats.success.ns = counts.request_ns
            stats.inference_stats.compute_infer.count = counts.executions
            stats.inference_stats.compute_infer.ns = counts.compute_ns
        return answer
