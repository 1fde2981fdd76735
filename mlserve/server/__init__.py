"""The HTTP front door: an ASGI app (FastAPI for docs and slow paths, pure-ASGI layers in
front) over an engine it is handed."""

from mlserve.server.app import create_app

__all__ = ["create_app"]
