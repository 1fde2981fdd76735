"""Clients with one interface: RemoteClient over HTTP, LocalClient in-process."""

from mlserve.client.base import Client
from mlserve.client.remote import RemoteClient

__all__ = ["Client", "LocalClient", "RemoteClient"]


def __getattr__(name: str) -> object:
    # LocalClient pulls in the inference core; remote-only users never pay for it.
    if name == "LocalClient":
        from mlserve.client.local import LocalClient

        return LocalClient
    raise AttributeError(name)
