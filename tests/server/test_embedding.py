"""The app embedded in other code: built and served off the main thread, on the standard
asyncio loop, as Starlette's TestClient (or a notebook's or a framework's thread) runs it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mlserve.config.load import load_manifest
from mlserve.server import create_app
from tests.support import write_manifest

pytestmark = pytest.mark.unit


def test_create_app_and_its_lifespan_work_off_the_main_thread(iris_folder: Path) -> None:
    """create_app failed in a thread with the standard loop (issue 34): signal handlers for
    reload can only be set on the main thread, which an embedded app must do without."""
    manifest = write_manifest(
        iris_folder, "models:\n  - {name: iris, runtime: sklearn, path: iris-v2.joblib}\n"
    )
    answers: dict[str, object] = {}

    def embedded() -> None:
        try:
            with TestClient(create_app(load_manifest(manifest))) as client:
                deadline = time.monotonic() + 60
                while client.get("/ready").status_code != 200:
                    assert time.monotonic() < deadline, "never ready"
                    time.sleep(0.02)
                answers["predict"] = client.post(
                    "/predict", json={"features": [5.1, 3.5, 1.4, 0.2]}
                ).json()
                answers["head"] = client.head("/health").status_code
        except BaseException as exc:  # handed to the test's thread
            answers["error"] = exc

    thread = threading.Thread(target=embedded)
    thread.start()
    thread.join(timeout=120)
    assert "error" not in answers, answers.get("error")
    assert answers["predict"]["prediction"] == "setosa"  # type: ignore[index]
    assert answers["head"] == 200
