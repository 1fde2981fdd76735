"""The sample manifest served over HTTP and gRPC once for the gRPC tests that share it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.grpc.test_service import serve_with_grpc


@pytest.fixture(scope="package")
def served(sample_manifest: Path) -> Iterator[tuple[str, str]]:
    """(HTTP base URL, gRPC address) of one server for the package's tests."""
    live, address = serve_with_grpc(sample_manifest)
    yield live.url, address
    live.stop()
