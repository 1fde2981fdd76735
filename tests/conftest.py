"""Shared fixtures: sample models built once per session, a live sample server, the CLI."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sample_models import build as sample_build
from tests.support import (
    CliResult,
    LiveServer,
    in_process,
    run_cli,
    serving_process,
    start_server,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.pop("MLSERVE_URL", None)
os.environ.pop("MLSERVE_API_KEY", None)


SERVER_FIXTURES = {"live_server", "server_url", "serve_manifest", "cli"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that starts a server or runs the CLI is end to end, whatever its module says."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def samples() -> Path:
    """The sample models, built where the README's serve command builds them. Built once:
    later sessions reuse what exists (the sentiment fine-tune takes minutes)."""
    sample_build.build(sample_build.HERE)
    return sample_build.HERE


@pytest.fixture(scope="session")
def fast_samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample models that train in a second or two (iris v1 and v2, credit, diabetes),
    built for this session: what unit tests serve, with no sample build beforehand."""
    folder = tmp_path_factory.mktemp("fast-samples")
    sample_build.build(folder, only=["iris", "credit", "diabetes"])
    return folder


@pytest.fixture
def iris_folder(fast_samples: Path, tmp_path: Path) -> Path:
    """A folder of this test's own with iris v1 and v2 in it, to change or break."""
    for version in ("v1", "v2"):
        shutil.copy(fast_samples / f"iris-{version}.joblib", tmp_path / f"iris-{version}.joblib")
    return tmp_path


@pytest.fixture(scope="session")
def sample_manifest(samples: Path) -> Path:
    return samples / "models.yaml"


@pytest.fixture(scope="session")
def live_server(sample_manifest: Path) -> Iterator[str]:
    """The sample manifest served by a real uvicorn server for the whole session."""
    live = start_server(sample_manifest)
    yield live.url
    live.stop()


@pytest.fixture(scope="session")
def app_client(sample_manifest: Path) -> Iterator[httpx.Client]:
    """The sample manifest's app in this process, behind an httpx.Client (ASGITransport)."""
    with in_process(sample_manifest) as client:
        yield client


@pytest.fixture(scope="session")
def ray_server_url(sample_manifest: Path) -> Iterator[str]:
    """The sample manifest on Ray Serve replicas behind a real front, once per session (Ray
    takes tens of seconds to start): `server` and `server_url` share it."""
    pytest.importorskip("ray.serve", reason="the ray backend needs mlserve[ray]")
    with serving_process(str(sample_manifest), "--backend", "ray") as served:
        yield served.url
        served.terminate()


@pytest.fixture(scope="session", params=["in-process", pytest.param("ray", marks=pytest.mark.slow)])
def server(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """The sample models behind each backend: the HTTP contract tests run against the app in
    this process and, under `-m slow`, against Ray Serve replicas behind a real front."""
    if request.param == "in-process":
        yield request.getfixturevalue("app_client")
        return
    url = request.getfixturevalue("ray_server_url")
    with httpx.Client(base_url=url, timeout=60) as client:
        yield client


@pytest.fixture(scope="session", params=["uvicorn", pytest.param("ray", marks=pytest.mark.slow)])
def server_url(request: pytest.FixtureRequest) -> str:
    """The sample server's URL on each backend, for clients that need a socket
    (tritonclient, the kserve SDK, mlserve's own)."""
    name = "live_server" if request.param == "uvicorn" else "ray_server_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
def serve_manifest() -> Iterator[Callable[..., str]]:
    """Start a server on any manifest for one test; stopped afterwards."""
    started: list[LiveServer] = []

    def start(path: Path, wait_ready: bool = True) -> str:
        live = start_server(path, wait_ready)
        started.append(live)
        return live.url

    yield start
    for live in started:
        live.stop()


@pytest.fixture
def serve_app() -> Iterator[Callable[..., httpx.Client]]:
    """The app over any manifest in this process, behind an httpx.Client, for one test."""
    with contextlib.ExitStack() as apps:

        def start(path: Path, **app_options: Any) -> httpx.Client:
            return apps.enter_context(in_process(path, **app_options))

        yield start


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    return run_cli
