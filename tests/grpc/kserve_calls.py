"""Drives a gRPC server with the kserve SDK's InferenceGRPCClient and prints what it answered
as JSON. A script, not a test module: the kserve SDK's generated protos and tritonclient's
register the same `inference.*` names in protobuf's default pool, so the two cannot be imported
in one process (their collision, not mlserve's); the test runs this in a subprocess.

Usage: python -m tests.grpc.kserve_calls ADDRESS REQUESTS.npz
The .npz holds arrays named `MODEL/INPUT`; each model is called once with all its inputs, as
raw tensors (`binary_data=True`) and again as typed contents (`binary_data=False`) where the
SDK can send them so."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import grpc
import kserve
import numpy as np


def datatype_of(values: np.ndarray) -> str:
    if values.dtype == object:
        return "BYTES"
    return {"float64": "FP64", "float32": "FP32", "int64": "INT64"}[str(values.dtype)]


def listed(values: np.ndarray) -> list[Any]:
    if values.dtype == object:
        return [v.decode() if isinstance(v, bytes) else v for v in values.ravel().tolist()]
    return values.ravel().tolist()


def typed_ok(values: np.ndarray) -> bool:
    """The SDK puts BYTES in typed contents as UTF-8 text only (an image goes raw alone)."""
    try:
        [v.decode() for v in values.ravel() if isinstance(v, bytes)]
    except UnicodeDecodeError:
        return False
    return True


async def call_all(address: str, requests: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    client = kserve.InferenceGRPCClient(address, timeout=60, retries=0)
    answered: dict[str, Any] = {
        "live": await client.is_server_live(),
        "ready": await client.is_server_ready(),
        "models": {},
    }
    for model, inputs in requests.items():
        answers = []
        for binary in (True, False) if all(map(typed_ok, inputs.values())) else (True,):
            tensors = []
            for name, values in inputs.items():
                tensor = kserve.InferInput(name, list(values.shape), datatype_of(values))
                tensor.set_data_from_numpy(values, binary_data=binary)
                tensors.append(tensor)
            response = await client.infer(kserve.InferRequest(model, tensors))
            answers.append(
                {
                    "version": response.model_version,
                    "outputs": {o.name: listed(o.as_numpy()) for o in response.outputs},
                }
            )
        answered["models"][model] = {"ready": await client.is_model_ready(model), "as": answers}
    try:
        await client.infer(kserve.InferRequest("no-such-model", []))
    except grpc.aio.AioRpcError as error:  # the SDK lets grpc's error through
        answered["missing"] = error.code().name
    await client.close()
    return answered


def main() -> None:
    address, path = sys.argv[1], sys.argv[2]
    requests: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path, allow_pickle=True) as stored:
        for key in stored.files:
            model, name = key.split("/")
            requests.setdefault(model, {})[name] = stored[key]
    print(json.dumps(asyncio.run(call_all(address, requests))))


if __name__ == "__main__":
    main()
