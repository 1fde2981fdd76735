"""Every `server.*` option of the manifest from an `MLSERVE_*` environment variable, as
container users set MLServer's `MLSERVER_*`: `MLSERVE_PORT=9000`, `MLSERVE_WORKERS=4`,
`MLSERVE_LIMITS__MAX_TEXTS=64`, `MLSERVE_CORS__ALLOW_ORIGINS='["http://localhost:3000"]'`.

Precedence: command-line flags, then the environment, then the manifest. Values are validated
as the manifest's are; a bad one is refused naming its variable.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ValidationError, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlserve import wire
from mlserve.config.schema import Manifest, ServerSpec
from mlserve.errors import ManifestError


def _optional(model: type[BaseModel]) -> dict[str, Any]:
    """Every field optional: only the options the environment sets are taken."""
    fields: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        fields[name] = (Optional[field.annotation], None)  # noqa: UP045 - built at run time
    return fields


ServerEnvironment: type[BaseSettings] = create_model(
    "ServerEnvironment",
    __base__=BaseSettings,
    __config__=None,
    **_optional(ServerSpec),
)
ServerEnvironment.model_config = SettingsConfigDict(
    env_prefix=wire.ENV_PREFIX,
    env_nested_delimiter=wire.ENV_NESTED,
    extra="ignore",
    case_sensitive=False,
)


def variables() -> list[str]:
    """The variable of every server option (nested ones spelled out), for `serve --help`."""
    names = []
    for name, field in ServerSpec.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            names += [
                f"{wire.ENV_PREFIX}{name}{wire.ENV_NESTED}{inner}".upper()
                for inner in nested.model_fields
            ]
        else:
            names.append(f"{wire.ENV_PREFIX}{name}".upper())
    return names


def environment_overrides() -> dict[str, Any]:
    """The server options the environment sets (nested ones as partial dicts)."""
    try:
        settings = ServerEnvironment()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = wire.ENV_NESTED.join(str(p) for p in first["loc"]).upper()
        raise ManifestError(f"${wire.ENV_PREFIX}{where}: {first['msg']}") from None
    values: dict[str, Any] = settings.model_dump(exclude_unset=True, exclude_none=True)
    return values


def merge(base: dict[str, Any], *layers: dict[str, Any]) -> dict[str, Any]:
    """`base` with each layer on top; nested options merge key by key (a variable for one
    limit keeps the manifest's other limits)."""
    merged = dict(base)
    for layer in layers:
        for key, value in layer.items():
            if value is None:
                continue
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = merge(merged[key], value)
            else:
                merged[key] = value
    return merged


def with_server(manifest: Manifest, **overrides: Any) -> Manifest:
    """The manifest's `server` section under the `MLSERVE_*` environment and then `overrides`
    (the command line's flags): flags win over the environment, the environment over the
    file."""
    layered = merge(manifest.server.model_dump(), environment_overrides(), overrides)
    try:
        server = ServerSpec.model_validate(layered)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ManifestError(f"invalid server option {where}: {first['msg']}") from None
    return manifest.serving_with(server, written=manifest.written_server)
