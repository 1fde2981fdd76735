"""Pick the front door: a server over HTTP, or the inference core in-process (--local)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlserve.client.base import Frontdoor


@contextmanager
def connect(
    url: str,
    local: bool,
    manifest: Path,
    api_key: str | None,
    timeout: float = 60.0,
    retries: int = 5,
) -> Iterator[Frontdoor]:
    """A client for the duration of one command, closed however the command ends."""
    if local:
        from mlserve.client.local import LocalClient  # the core, and later one framework

        client: Frontdoor = LocalClient(manifest)
    elif url.startswith("grpc://"):
        from mlserve.client.grpc import GrpcClient  # grpc only for a grpc:// URL

        client = GrpcClient(url, api_key=api_key, timeout=timeout, retries=retries)
    else:
        from mlserve.client.remote import Client as RemoteClient

        client = RemoteClient(url, api_key=api_key, timeout=timeout, retries=retries)
    try:
        yield client
    finally:
        client.close()
