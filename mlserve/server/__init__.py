"""The HTTP front door: a FastAPI app over the inference core."""

from mlserve.server.app import create_app

__all__ = ["create_app"]
