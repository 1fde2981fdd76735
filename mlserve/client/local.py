"""LocalClient: the inference core in this process, no server, same JSON."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from mlserve.client import payloads
from mlserve.client.base import Operation, split_model
from mlserve.config.load import load_manifest
from mlserve.engine.core import InferenceCore


class LocalClient:
    """Loads only the models it is asked for (their framework only), on first use."""

    def __init__(self, manifest_path: str | Path) -> None:
        self.core = InferenceCore(load_manifest(manifest_path))
        self._runner = asyncio.Runner()

    def run(
        self,
        operation: Operation,
        payload: Any,
        model: str | None = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        model, version = split_model(model, version)
        body = self._runner.run(self.core.run(operation, payload, model, version))
        return _as_served(body)

    def predict_array(
        self,
        rows: Any,
        *,
        columns: list[str] | None = None,
        model: str | None = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        """Rows of a 2-D numeric array, straight to the core (no wire to save)."""
        payload = payloads.named_rows(rows, columns)
        return self.run("predict_batch", payload, model, version)

    def info(self) -> dict[str, Any]:
        """Describe every model; loads them all, since a model's shape is known only then."""
        self._runner.run(self.core.start())
        return _as_served(self.core.info())

    def input_kind(self, model: str | None = None) -> str:
        """Read from the manifest: no model is loaded to answer."""
        return self.core.model(split_model(model, None)[0]).input_kind

    def close(self) -> None:
        self._runner.run(self.core.close())
        self._runner.close()


def _as_served(body: dict[str, Any]) -> dict[str, Any]:
    """Round-trip through the server's encoder, so numbers and keys match it exactly."""
    out: dict[str, Any] = orjson.loads(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    )
    return out
