"""Pick the front door: a server over HTTP, or the inference core in-process (--local)."""

from __future__ import annotations

from pathlib import Path

from mlserve.client.base import Client


def open_client(url: str, local: bool, manifest: Path, api_key: str | None) -> Client:
    if local:
        from mlserve.client.local import LocalClient  # the core, and later one framework

        return LocalClient(manifest)
    from mlserve.client.remote import RemoteClient

    return RemoteClient(url, api_key)
