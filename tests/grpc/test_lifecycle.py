"""gRPC in a real `mlserve serve` process: SIGTERM finishes every call in flight, then the
process exits 0; under --workers every worker serves gRPC; a taken gRPC port is exit 4."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as tg
import tritonclient.grpc.aio as tga

from tests.models import slow_classifier
from tests.support import run_cli, serving_process, wait_for, write_manifest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROW = np.array([[5.1, 3.5, 1.4, 0.2]])


def queued(url: str, model: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    found = re.search(rf'mlserve_queue_depth{{model="{model}",version="v1"}} ([0-9.]+)', text)
    return float(found.group(1)) if found else 0.0


def test_sigterm_answers_every_grpc_call_in_flight(tmp_path: Path) -> None:
    slow_classifier(str(tmp_path / "slow.joblib"), seconds=0.5)
    manifest = write_manifest(
        tmp_path,
        "models:\n  - {name: slow, runtime: sklearn, "
        "path: slow.joblib, batching: {max_batch_size: 16}}\n",
    )
    with serving_process(str(manifest), "--grace-period", "60") as served:

        async def fifty() -> list[str]:
            client = tga.InferenceServerClient(served.grpc)
            tensor = tga.InferInput("input", [1, 4], "FP64")
            tensor.set_data_from_numpy(ROW)
            calls = [asyncio.ensure_future(client.infer("slow", [tensor])) for _ in range(50)]
            # the server holds calls waiting for the model: then it is told to stop
            await asyncio.to_thread(wait_for, lambda: queued(served.url, "slow") >= 1)
            served.proc.send_signal(15)
            try:
                answers = await asyncio.gather(*calls)
            finally:
                await client.close()
            return [a.as_numpy("label")[0].decode() for a in answers]

        labels = asyncio.run(fifty())
        code, log = served.proc.wait(timeout=60), served.output()
    assert labels == ["0"] * 50
    assert code == 0, log


def test_every_worker_serves_grpc(fast_samples: Path, tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path,
        f"models:\n  - {{name: iris, runtime: sklearn, path: {fast_samples / 'iris-v2.joblib'}}}\n",
    )
    with serving_process(str(manifest), "--workers", "2") as served:
        wait_for(lambda: served.output().count("gRPC (Open Inference Protocol) on") == 2)
        for _ in range(10):  # a new channel each time: either worker may take it
            client = tg.InferenceServerClient(served.grpc)
            tensor = tg.InferInput("input", [1, 4], "FP64")
            tensor.set_data_from_numpy(ROW)
            assert client.infer("iris", [tensor]).as_numpy("label").tolist() == [b"setosa"]
            client.close()
        code, log = served.terminate()
    assert code == 0, log


def test_a_taken_grpc_port_is_exit_4_naming_it(fast_samples: Path, tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path,
        f"models:\n  - {{name: iris, runtime: sklearn, path: {fast_samples / 'iris-v2.joblib'}}}\n",
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("serve", str(manifest), "--port", "0", "--grpc-port", str(port))
    assert result.code == 4
    assert f"gRPC port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "--grpc-port" in result.stderr
    assert "Traceback" not in result.stderr
