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
VERSION_PREFIX = "/versions/{version}"  # a version of the default model
# Deprecated spelling of VERSION_PREFIX, kept one release: under it `/v2/predict` (the default
# model's version "v2") sat inside the V2 protocol's namespace. Its answers carry
# DEPRECATION_HEADER and a `Link` to the successor route.
LEGACY_VERSION_PREFIX = "/{version}"
DEPRECATION_HEADER = "Deprecation"
MODELS = "/models"  # every model version, as /model/info
MODEL_PREFIX = MODELS + "/{name}"
MODEL_VERSION_PREFIX = "/models/{name}/versions/{version}"

HEALTH = "/health"
READY = "/ready"
MODEL_INFO = "/model/info"
METRICS = "/metrics"
DOCS = "/docs"
REDOC = "/redoc"
OPENAPI = "/openapi.json"
DOCS_ASSETS = "/docs-assets"
CONSOLE = "/"
CONSOLE_ASSETS = "/console-assets"
CONSOLE_STATS = "/console/stats"

V2 = "/v2"
V2_LIVE = V2 + "/health/live"
V2_READY = V2 + "/health/ready"
# Probes: a load balancer or kubelet asks every few seconds; answered, they are no access line
# at INFO (at DEBUG they are).
V2_MODELS = V2 + "/models"  # every model's name, versions and platform
V2_INFER = "/infer"  # after V2 + MODEL_PREFIX or V2 + MODEL_VERSION_PREFIX
# The model-repository extension (admin key)
V2_REPOSITORY_INDEX = V2 + "/repository/index"
V2_REPOSITORY_LOAD = V2 + "/repository/models/{name}/load"
V2_REPOSITORY_UNLOAD = V2 + "/repository/models/{name}/unload"
RELOAD = "/admin/reload"  # read the manifest again and apply what changed (admin key)
# The Open Inference Protocol's gRPC service (Triton's extensions included), and its probes.
GRPC_SERVICE = "inference.GRPCInferenceService"
GRPC_PROBES = frozenset(
    f"/{GRPC_SERVICE}/{method}" for method in ("ServerLive", "ServerReady", "ModelReady")
)
PROBES = frozenset({HEALTH, READY, V2_LIVE, V2_READY, *GRPC_PROBES})
ADMIN_ROUTES = (V2_REPOSITORY_INDEX, V2_REPOSITORY_LOAD, V2_REPOSITORY_UNLOAD, RELOAD)

REQUEST_ID_HEADER = "x-request-id"
API_KEY_HEADER = "x-api-key"
MODEL_VERSION_HEADER = "x-model-version"  # which version answered
ROUTING_KEY_HEADER = "x-routing-key"  # the same key reaches the same version of a split
V2_HEADER_LENGTH = "inference-header-content-length"

ENV_PREFIX = "MLSERVE_"  # MLSERVE_<SERVER OPTION>, nested with "__": MLSERVE_LIMITS__MAX_TEXTS
ENV_NESTED = "__"
ENV_URL = "MLSERVE_URL"
ENV_API_KEY = "MLSERVE_API_KEY"
ENV_ADMIN_KEY = "MLSERVE_ADMIN_KEY"  # the CLI's admin key (load, unload, reload)
ENV_MANIFEST = "MLSERVE_MANIFEST"
ENV_SERVE_MANIFEST = "MLSERVE_SERVE_MANIFEST"  # set by `serve` for its worker processes
ENV_SERVE_OVERRIDES = "MLSERVE_SERVE_OVERRIDES"  # the command line's server options, as JSON
ENV_SUPERVISOR_PID = "MLSERVE_SUPERVISOR_PID"  # set by `serve --workers N` for its workers
ENV_SIZED_THREADS = "MLSERVE_SIZED_THREADS"  # marks OMP_NUM_THREADS & co as set by mlserve
DEFAULT_URL = "http://127.0.0.1:8000"

# Routes that answer without an API key: probes, the API documentation and the console's
# page (which holds no data: it asks for a key before it shows anything).
OPEN_ROUTES = frozenset(
    {HEALTH, READY, V2_LIVE, V2_READY, DOCS, DOCS + "/oauth2-redirect", REDOC, OPENAPI, CONSOLE}
)
OPEN_PREFIXES = (DOCS_ASSETS + "/", CONSOLE_ASSETS + "/")

# Every server option's variable (flags > environment > manifest); a test keeps this list equal
# to what mlserve.config.environment reads, so that `serve --help` can show it without
# importing pydantic.
SERVER_ENV_VARIABLES = (
    "MLSERVE_HOST",
    "MLSERVE_PORT",
    "MLSERVE_GRPC",
    "MLSERVE_GRPC_PORT",
    "MLSERVE_DEFAULT_MODEL",
    "MLSERVE_WORKERS",
    "MLSERVE_LOG_LEVEL",
    "MLSERVE_LOG_FORMAT",
    "MLSERVE_API_KEY_ENV",
    "MLSERVE_ADMIN_KEY_ENV",
    "MLSERVE_QUEUE_LIMIT",
    "MLSERVE_REQUEST_TIMEOUT_S",
    "MLSERVE_SHUTDOWN_GRACE_S",
    "MLSERVE_HEADER_TIMEOUT_S",
    "MLSERVE_BODY_TIMEOUT_S",
    "MLSERVE_KEEP_ALIVE_S",
    "MLSERVE_MAX_CONNECTIONS",
    "MLSERVE_HTTP",
    "MLSERVE_CONSOLE",
    "MLSERVE_WATCH",
    "MLSERVE_CPUS",
    "MLSERVE_LIMITS__MAX_BODY_BYTES",
    "MLSERVE_LIMITS__MAX_BODIES_IN_FLIGHT_BYTES",
    "MLSERVE_LIMITS__MAX_HEADER_BYTES",
    "MLSERVE_LIMITS__MAX_HEADERS",
    "MLSERVE_LIMITS__MAX_BATCH_ROWS",
    "MLSERVE_LIMITS__MAX_FEATURES",
    "MLSERVE_LIMITS__MAX_TEXTS",
    "MLSERVE_LIMITS__MAX_TEXT_CHARS",
    "MLSERVE_LIMITS__MAX_TEXT_TOKENS",
    "MLSERVE_LIMITS__MAX_IMAGE_BYTES",
    "MLSERVE_LIMITS__MAX_IMAGE_PIXELS",
    "MLSERVE_CORS__ALLOW_ORIGINS",
    "MLSERVE_CORS__ALLOW_METHODS",
    "MLSERVE_CORS__ALLOW_HEADERS",
    "MLSERVE_CORS__EXPOSE_HEADERS",
    "MLSERVE_CORS__ALLOW_CREDENTIALS",
    "MLSERVE_CORS__MAX_AGE",
)
