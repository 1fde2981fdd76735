"""The kserve SDK's gRPC client (kserve.InferenceGRPCClient) against the sample models: live,
ready, model ready and ModelInfer with raw and typed tensors answer as HTTP does. The SDK runs
in a subprocess (tests/grpc/kserve_calls.py says why)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as th

from tests.grpc.test_service import sample_requests, tensors

pytestmark = pytest.mark.e2e


def test_the_kserve_sdk_answers_as_http_does(
    served: tuple[str, str], samples: Path, tmp_path: Path
) -> None:
    requests = sample_requests(samples)
    stored = tmp_path / "requests.npz"
    arrays: dict[str, Any] = {f"{m}/{n}": v for m, inputs in requests for n, v in inputs.items()}
    np.savez(stored, **arrays)
    called = subprocess.run(
        [sys.executable, "-m", "tests.grpc.kserve_calls", served[1], str(stored)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert called.returncode == 0, called.stderr
    answered = json.loads(called.stdout)
    assert answered["live"] is True
    assert answered["ready"] is True
    assert answered["missing"] == "NOT_FOUND"
    http = th.InferenceServerClient(served[0].removeprefix("http://"))
    for model, inputs in requests:
        over_http = http.infer(model, tensors(th, inputs))
        expected = {
            o["name"]: over_http.as_numpy(o["name"]) for o in over_http.get_response()["outputs"]
        }
        assert answered["models"][model]["ready"] is True, model
        answers = answered["models"][model]["as"]  # raw tensors, then typed contents
        assert len(answers) == (1 if model == "digits" else 2), model
        for answer in answers:
            assert answer["version"] == over_http.get_response()["model_version"], model
            assert list(answer["outputs"]) == list(expected), model
            for name, values in expected.items():
                got = np.array(answer["outputs"][name])
                if values.dtype == object:
                    assert got.tolist() == [v.decode() for v in values.ravel()], (model, name)
                else:
                    assert np.allclose(got, values.ravel(), rtol=0, atol=0), (model, name)
    assert answered["models"]["digits"]["as"][0]["outputs"]["label"] == ["7"]


def test_the_kserve_sdk_and_every_mlserve_grpc_module_import_in_one_process() -> None:
    modules = ["mlserve.grpc.service", "mlserve.grpc.server", "mlserve.client.grpc"]
    code = "import kserve\n" + "".join(f"import {m}\n" for m in modules)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
