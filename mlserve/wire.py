"""The wire vocabulary, written once: operations, routes, headers and environment variables.

The server, the clients and the CLI import these names; none of them spells a route or a
variable itself, so renaming one is a one-line change here.
"""

from __future__ import annotations

from typing import Literal

Operation = Literal["predict", "predict_batch", "classify", "predict_image"]

# Each operation's route suffix; every prefix below serves all of them.
OPERATION_ROUTES: dict[Operation, str] = {
    "predict": "/predict",
    "predict_batch": "/predict/batch",
    "classify": "/classify",
    "predict_image": "/predict/image",
}
VERSION_PREFIX = "/{version}"
MODEL_PREFIX = "/models/{name}"
MODEL_VERSION_PREFIX = "/models/{name}/versions/{version}"

HEALTH = "/health"
READY = "/ready"
MODEL_INFO = "/model/info"
METRICS = "/metrics"
DOCS = "/docs"
REDOC = "/redoc"
OPENAPI = "/openapi.json"
DOCS_ASSETS = "/docs-assets"

V2 = "/v2"
V2_LIVE = V2 + "/health/live"
V2_READY = V2 + "/health/ready"

REQUEST_ID_HEADER = "x-request-id"
API_KEY_HEADER = "x-api-key"
V2_HEADER_LENGTH = "inference-header-content-length"

ENV_URL = "MLSERVE_URL"
ENV_API_KEY = "MLSERVE_API_KEY"
ENV_MANIFEST = "MLSERVE_MANIFEST"
ENV_SERVE_MANIFEST = "MLSERVE_SERVE_MANIFEST"  # set by `serve` for its worker processes
ENV_SERVE_OVERRIDES = "MLSERVE_SERVE_OVERRIDES"  # the command line's server options, as JSON
DEFAULT_URL = "http://127.0.0.1:8000"

# Routes that answer without an API key: probes and the API documentation.
OPEN_ROUTES = frozenset(
    {HEALTH, READY, V2_LIVE, V2_READY, DOCS, DOCS + "/oauth2-redirect", REDOC, OPENAPI}
)
