"""The CLI over gRPC (`--url grpc://host:port`): every command's answer equals the HTTP one,
byte for byte; errors keep their exit codes. (tests/test_light_imports.py: no other command
imports grpc.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.grpc.test_service import serve_with_grpc
from tests.support import free_port, run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def urls(sample_manifest: Path) -> Iterator[tuple[str, str]]:
    live, address = serve_with_grpc(sample_manifest)
    yield live.url, f"grpc://{address}"
    live.stop()


def test_every_command_answers_as_over_http(
    urls: tuple[str, str], samples: Path, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n5.9,3.0,4.2,1.5\n")
    texts = tmp_path / "reviews.txt"
    texts.write_text("I loved this film\nTerrible, a waste of time.\n")
    credit = '{"age": 42, "income": 52000, "credit_score": 710}'
    commands = [
        ("predict", "-m", "iris", "-f", "5.1,3.5,1.4,0.2"),
        ("predict", "-m", "iris:v1", "-f", "6.7 3.0 5.2 2.3"),
        ("predict", "-m", "credit", "-j", credit),
        ("predict", "-m", "credit:xgboost", "-j", credit),
        ("predict", "-m", "diabetes", "-f", "0 0 0 0 0 0 0 0 0 0"),
        ("predict", "-m", "digits", "--image", str(samples / "digits" / "3.png")),
        ("classify", "I loved this film", "It was awful", "-m", "sentiment"),
        ("batch", "-m", "iris", "-i", str(rows)),
        ("batch", "-m", "sentiment", "-i", str(texts)),
    ]
    for command in commands:
        over_http = run_cli(*command, "--url", urls[0])
        over_grpc = run_cli(*command, "--url", urls[1])
        assert over_http.code == 0, over_http.stderr
        assert over_grpc.code == 0, (command, over_grpc.stderr)
        assert over_grpc.stdout == over_http.stdout, command


def test_errors_keep_their_exit_codes(urls: tuple[str, str]) -> None:
    unknown = run_cli("predict", "-m", "nope", "-f", "1", "--url", urls[1])
    assert unknown.code == 1
    assert "unknown model 'nope'" in unknown.stderr
    bad = run_cli("predict", "-m", "iris", "-f", "1,2", "--url", urls[1])
    assert bad.code == 1
    assert "Traceback" not in bad.stderr
    nameless = run_cli("predict", "-f", "5.1,3.5,1.4,0.2", "--url", urls[1])
    assert nameless.code == 2
    assert "over gRPC, name the model" in nameless.stderr
    nobody = run_cli(
        "predict", "-m", "iris", "-f", "1", "--url", f"grpc://127.0.0.1:{free_port()}",
        "--retries", "0", "--timeout", "5",
    )  # fmt: skip
    assert nobody.code == 3
    assert "cannot reach the mlserve gRPC server" in nobody.stderr


def test_the_python_client_speaks_grpc_too(urls: tuple[str, str], samples: Path) -> None:
    import numpy as np
    import pandas as pd

    from mlserve import Client

    frame = pd.DataFrame({"income": [52000.0], "credit_score": [710], "age": [42]})
    png = samples / "digits" / "7.png"
    with Client(urls[0]) as over_http, Client(urls[1]) as over_grpc:
        assert type(over_grpc).__name__ == "GrpcClient"
        calls: list[Callable[[Any], dict[str, Any]]] = [
            lambda c: c.predict([5.1, 3.5, 1.4, 0.2], model="iris"),
            lambda c: c.predict({"age": 42, "income": 52000, "credit_score": 710}, model="credit"),
            lambda c: c.predict_batch(np.array([[5.1, 3.5, 1.4, 0.2]] * 3), model="iris-onnx"),
            lambda c: c.predict_batch(frame, model="credit"),
            lambda c: c.classify(["I loved this film", "awful"], model="sentiment"),
            lambda c: c.predict_image(png, model="digits"),
        ]
        for call in calls:
            assert call(over_grpc) == call(over_http)
