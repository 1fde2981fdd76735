"""A busy server asks the client to come back (503 + Retry-After); `mlserve batch` does, and
a 200,000-row batch completes with every row, once, in order."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support import run_cli, write_manifest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_60000_row_batch_completes_through_503s(
    samples: Path, tmp_path: Path, serve_manifest: Callable[..., str]
) -> None:
    url = serve_manifest(
        write_manifest(
            tmp_path,
            f"""
server: {{queue_limit: 1}}
models:
  - {{name: iris, runtime: sklearn, path: {samples / "iris-v2.joblib"},
     batching: {{max_batch_size: 64, max_wait_ms: 2}}}}
""",
        )
    )
    source, target = tmp_path / "rows.csv", tmp_path / "out.jsonl"
    source.write_text("5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n" * 30_000)
    stop = threading.Event()
    refused: list[int] = []

    def compete() -> None:  # other clients keep the one-slot queue busy
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set():
                response = client.post("/predict", json={"features": [5.1, 3.5, 1.4, 0.2]})
                refused.append(response.status_code == 503)
                if response.status_code == 503:  # well-behaved clients wait as asked, too
                    stop.wait(float(response.headers["retry-after"]))

    others = [threading.Thread(target=compete) for _ in range(3)]
    for thread in others:
        thread.start()
    try:
        result = run_cli(
            "batch",
            "-i",
            str(source),
            "--out",
            str(target),
            "--chunk-size",
            "2000",
            "--url",
            url,
            timeout=600,
        )
    finally:
        stop.set()
        for thread in others:
            thread.join()
    assert result.code == 0, result.stderr
    retried = re.search(r"(\d+) requests retried", result.stderr)
    assert retried is not None, result.stderr  # the server did refuse, and the client retried
    print(f"retries: {retried.group(1)}; competing requests refused: {sum(refused)}")
    with target.open() as answers:
        rows = [json.loads(line)["row"] for line in answers]
    assert rows == list(range(60_000))
