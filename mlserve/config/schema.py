"""The manifest's schema (models.yaml): what each section may say, checked field by field.

Reading a file and explaining its mistakes is `mlserve.config.load`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)

from mlserve import runtimes
from mlserve.runtimes._options import RuntimeOptions

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureSpec(_Strict):
    """One named input feature, in model order."""

    name: str
    type: Literal["int", "float"] = "float"
    min: float | None = None
    max: float | None = None


class BatchingSpec(_Strict):
    """Adaptive batching: coalesce concurrent requests into one model call."""

    max_batch_size: Annotated[int, Field(ge=1, le=100_000)] = 32
    max_wait_ms: Annotated[float, Field(ge=0, le=10_000)] = 2.0


class LimitsSpec(_Strict):
    """Input limits; each breach is a clear 413 (431 for the headers)."""

    max_body_bytes: Annotated[int, Field(ge=1)] = 32 * 1024 * 1024
    # Every body being read or answered at once, by Content-Length: past it, 503 + Retry-After.
    max_bodies_in_flight_bytes: Annotated[int, Field(ge=1)] = 512 * 1024 * 1024
    # The request line and headers together, and how many header lines: over either, 431.
    max_header_bytes: Annotated[int, Field(ge=1024)] = 32 * 1024
    max_headers: Annotated[int, Field(ge=8)] = 100
    max_batch_rows: Annotated[int, Field(ge=1)] = 100_000
    max_features: Annotated[int, Field(ge=1)] = 10_000
    max_texts: Annotated[int, Field(ge=1)] = 256
    max_text_chars: Annotated[int, Field(ge=1)] = 10_000
    max_text_tokens: Annotated[int, Field(ge=1)] = 16_384  # per request, texts x truncation
    max_image_bytes: Annotated[int, Field(ge=1)] = 10 * 1024 * 1024
    max_image_pixels: Annotated[int, Field(ge=1)] = 16_000_000


class AutoscalingSpec(_Strict):
    """Ray Serve autoscaling of one model version (the ray backend only)."""

    min_replicas: Annotated[int, Field(ge=0)] = 1
    max_replicas: Annotated[int, Field(ge=1)] = 4
    target_ongoing_requests: Annotated[float, Field(gt=0)] = 2.0


class ResourcesSpec(_Strict):
    """What each replica reserves on the Ray cluster (the ray backend only)."""

    # Small by default, so that a dozen models fit a laptop's local Ray instance (at 0.25 the
    # eleven sample models and the ingress asked for 3 CPUs of 2 and waited forever).
    num_cpus: Annotated[float, Field(ge=0)] = 0.1
    num_gpus: Annotated[float, Field(ge=0)] = 0.0


class CorsSpec(_Strict):
    """Cross-origin requests from browser apps and notebooks (off unless origins are given)."""

    allow_origins: list[str] = []
    allow_methods: list[str] = ["GET", "POST"]
    allow_headers: list[str] = [
        "authorization",
        "content-type",
        "x-api-key",
        "x-request-id",
        "x-routing-key",
        "inference-header-content-length",
    ]
    expose_headers: list[str] = [
        "x-request-id",
        "x-model-version",
        "retry-after",
        "inference-header-content-length",
    ]
    allow_credentials: bool = False
    max_age: Annotated[int, Field(ge=0)] = 600

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> CorsSpec:
        # Browsers refuse `*` with credentials, so Starlette answers such a request with the
        # caller's own Origin: every site on the web could call with the user's cookies.
        if self.allow_credentials and "*" in self.allow_origins:
            raise ValueError(
                "allow_origins ['*'] with allow_credentials: true would let every website "
                "call the server with its users' credentials; list the origins instead"
            )
        return self


class ServerSpec(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    # The Open Inference Protocol over gRPC beside HTTP, on 8081 as MLServer and KServe do.
    grpc: bool = True
    grpc_port: Annotated[int, Field(ge=0, le=65535)] = 8081
    default_model: str | None = None
    workers: Annotated[int, Field(ge=1)] = 1
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    log_format: Literal["text", "json"] = "text"
    api_key_env: str | None = None
    # The admin routes' key (repository API, reload); without one they answer on loopback only
    admin_key_env: str | None = None
    queue_limit: Annotated[int, Field(ge=1)] = 1024
    request_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    shutdown_grace_s: Annotated[float, Field(ge=0)] = 30.0
    # Connection limits (see mlserve.transport.protocol): slow or stalled clients are closed.
    header_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    body_timeout_s: Annotated[float, Field(gt=0)] = 60.0
    keep_alive_s: Annotated[float, Field(gt=0)] = 5.0
    max_connections: Annotated[int, Field(ge=1)] = 2048
    # HTTP/1.1 parser: httptools (faster; whole-body reads, one write per response) or h11
    # (pure Python); auto takes httptools where it is installed. The limits hold over both.
    http: Literal["auto", "httptools", "h11"] = "auto"
    console: bool = True  # the live console at `/`
    watch: bool = False  # reload when the manifest or a model file changes
    # CPUs to size thread pools for: auto = what the process may use (affinity, cgroup quota)
    cpus: Literal["auto"] | Annotated[int, Field(ge=1)] = "auto"
    limits: LimitsSpec = LimitsSpec()
    cors: CorsSpec = CorsSpec()


class InvalidOptions(ValueError):
    """A runtime's options failed its model; `_explain` reports the first error as if the
    entry itself had failed on that key."""

    def __init__(self, runtime: str, error: ValidationError) -> None:
        super().__init__(f"invalid options for runtime {runtime!r}: {error}")
        self.runtime = runtime
        self.error = error


class ModelSpec(_Strict):
    """One model version as the manifest declares it."""

    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=128)]
    version: Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)] = "v1"
    default: bool = False
    runtime: str
    path: Path
    load: Literal["startup", "lazy"] = "startup"
    labels: list[str] | None = None
    inputs: list[FeatureSpec] | None = None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = None
    batching: BatchingSpec = BatchingSpec()
    max_concurrency: Annotated[int, Field(ge=1)] | None = None
    # Threads for the model's framework (BLAS aside): auto = the server's CPU budget
    threads: Literal["auto"] | Annotated[int, Field(ge=1)] = "auto"
    # Ray Serve backend only (`serve --backend ray`); the plain server ignores them.
    replicas: Annotated[int, Field(ge=1)] | None = None
    autoscaling: AutoscalingSpec | None = None
    resources: ResourcesSpec = ResourcesSpec()
    # One input to show and to try (the console's try-it form starts with it): feature values,
    # values by input name, or a text.
    example: list[float] | dict[str, float] | str | None = None
    # The runtime's own options (its module's `Options`), written beside the keys above.
    options: SerializeAsAny[RuntimeOptions] = RuntimeOptions()

    @model_validator(mode="before")
    @classmethod
    def _runtime_options(cls, data: Any) -> Any:
        """Keys that are not common to every model are the runtime's options: validate them
        with its model (an unknown runtime is reported by the `runtime` field instead)."""
        if not isinstance(data, dict) or isinstance(data.get("options"), RuntimeOptions):
            return data
        common = {k: v for k, v in data.items() if k in cls.model_fields and k != "options"}
        own = {k: v for k, v in data.items() if k not in common and k != "options"}
        if isinstance(data.get("options"), dict):  # a dumped spec (e.g. sent to Ray)
            own = {**data["options"], **own}
        runtime = data.get("runtime")
        if isinstance(runtime, str) and runtime in runtimes.available():
            try:
                common["options"] = runtimes.options_model(runtime).model_validate(own)
            except ValidationError as exc:
                raise InvalidOptions(runtime, exc) from None
        return common

    @model_validator(mode="after")
    def _example_fits_the_inputs(self) -> ModelSpec:
        names = [f.name for f in self.inputs or []]
        if isinstance(self.example, dict) and names and sorted(self.example) != sorted(names):
            raise ValueError(
                f"example names {', '.join(sorted(self.example))}; the inputs are "
                f"{', '.join(names)}"
            )
        if isinstance(self.example, list) and names and len(self.example) != len(names):
            raise ValueError(f"example has {len(self.example)} values for {len(names)} inputs")
        return self

    @field_validator("runtime")
    @classmethod
    def _known_runtime(cls, value: str) -> str:
        if value not in runtimes.available():
            raise ValueError(
                f"unknown runtime {value!r}; expected one of: {', '.join(runtimes.available())}"
            )
        return value

    @property
    def key(self) -> str:
        return f"{self.name}:{self.version}"


Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]


class ShadowSpec(_Strict):
    """A copy of a share of the traffic goes to another version; its answer is only compared."""

    version: Name
    percent: Annotated[float, Field(gt=0, le=100)] = 100.0
    # Regressors: answers within this distance agree (classifiers: the same label).
    tolerance: Annotated[float, Field(ge=0)] = 1e-6
    # Copies waiting for the shadow; more are dropped (and counted), never waited for.
    queue_limit: Annotated[int, Field(ge=1, le=100_000)] = 256
    # ... and at most this many bytes of them (inputs and primary answers): a copy of a
    # 100,000-row request is tens of MB, and 256 of them were gigabytes.
    queue_bytes: Annotated[int, Field(ge=1)] = 64 * 1024 * 1024


class RoutingSpec(_Strict):
    """Per model name: aliases of versions, a traffic split, a shadow."""

    aliases: dict[Name, Name] = {}
    # version (or alias) -> percent of the requests that name no version; they sum to 100
    traffic: dict[Name, Annotated[float, Field(ge=0, le=100)]] = {}
    shadow: ShadowSpec | None = None

    def version_of(self, version: str) -> str:
        """A version's own name: an alias replaced by the version it stands for."""
        return self.aliases.get(version, version)


class Manifest(_Strict):
    server: ServerSpec = ServerSpec()
    models: Annotated[list[ModelSpec], Field(min_length=1)]
    routing: dict[Annotated[str, Field(pattern=NAME_PATTERN)], RoutingSpec] = {}
    source: Path = Path("models.yaml")
    # The `server` section as the file wrote it, where `server` has been layered with the
    # environment and the command line (what a reload compares the file's new section with).
    _written_server: ServerSpec | None = PrivateAttr(default=None)

    @property
    def written_server(self) -> ServerSpec:
        return self._written_server or self.server

    def serving_with(self, server: ServerSpec, written: ServerSpec) -> Manifest:
        """This manifest under `server` (the settings in effect), remembering `written`."""
        out = self.model_copy(update={"server": server})
        out._written_server = written
        return out

    def version_of(self, name: str, version: str) -> str:
        """A version's own name: an alias replaced by the version it stands for."""
        routing = self.routing.get(name)
        return routing.version_of(version) if routing else version
