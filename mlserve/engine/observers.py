"""What the engine tells about its work: the declared observer surface.

Every event is a method of `CoreObserver` with a no-op default, so that an observer (the
server's Prometheus metrics, the console's rolling statistics, a tracer) overrides only the
events it records. Observers run on the event loop, inside the request or the operation that
caused the event: each must be cheap and must not block. An observer that raises is logged
and skipped; it never fails the request, the model call or the reload it was told about.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlserve.config.schema import ModelSpec
    from mlserve.engine.registry import ModelEntry

log = logging.getLogger("mlserve.engine")


class CoreObserver:
    """The engine's events; subclass and override the ones to record."""

    def model_call(self, spec: ModelSpec, rows: int, seconds: float) -> None:
        """One call of a model's `predict`: the rows of its batch and its wall time."""

    def queue_depth(self, spec: ModelSpec, depth: int) -> None:
        """Requests waiting for a model version's batcher, after each change."""

    def model_state(self, entry: ModelEntry) -> None:
        """A version's load state, once for each version when the observer is added, then
        on every change (loading, ready, failed, unloaded)."""

    def reloaded(self, outcome: str, failed: list[str]) -> None:
        """A live reload `applied` or `refused`; `failed`: the versions that did not load."""

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
        """One shadow copy's outcome (`compared`, `error`, `dropped`); `agreement`: the
        shadow's share of agreeing rows so far."""


EVENTS = tuple(name for name in vars(CoreObserver) if not name.startswith("_"))


class Observers:
    """The engine's observers, told of each event in the order they were added."""

    def __init__(self) -> None:
        self._observers: list[CoreObserver] = []

    def add(self, observer: CoreObserver) -> None:
        self._observers.append(observer)

    def tell(self, event: str, *args: Any) -> None:
        """Call `event` on every observer; one that raises is logged, and the rest still
        hear of it."""
        assert event in EVENTS, f"undeclared observer event {event!r}"
        for observer in self._observers:
            try:
                getattr(observer, event)(*args)
            except Exception:
                log.exception("observer %s failed on %s", type(observer).__name__, event)
