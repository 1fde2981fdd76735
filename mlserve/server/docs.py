"""The API documentation: /docs (Swagger UI) and /redoc with their assets served by mlserve
itself (no CDN: an air-gapped server still shows them), and an OpenAPI document completed with
what only the manifest knows: model names and versions, each named-input model's fields with
their types and bounds, and the API-key security schemes when keys are on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from mlserve import wire
from mlserve.config.schema import Manifest, ModelSpec
from mlserve.protocols.openapi import ERROR_TEXT

# fastapi-offline ships the Swagger UI and ReDoc bundles; we serve its files, nothing else.
ASSETS = Path(fastapi_offline.__file__).parent / "static"
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def install(app: FastAPI, manifest: Manifest, *, secured: bool) -> None:
    app.mount(wire.DOCS_ASSETS, StaticFiles(directory=ASSETS), name="docs-assets")

    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=wire.OPENAPI,
            title=f"{app.title} - API",
            swagger_js_url=f"{wire.DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{wire.DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{wire.DOCS_ASSETS}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=wire.OPENAPI,
            title=f"{app.title} - API",
            redoc_js_url=f"{wire.DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{wire.DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    app.add_api_route(wire.DOCS, swagger, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route(wire.REDOC, redoc, methods=["GET", "HEAD"], include_in_schema=False)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = complete(spec, manifest, secured=secured)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(spec: dict[str, Any], manifest: Manifest, *, secured: bool) -> dict[str, Any]:
    names = sorted({m.name for m in manifest.models})
    versions = sorted({m.version for m in manifest.models})
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    named = {m.name: m for m in manifest.models if m.inputs}
    for model in named.values():
        schemas[features_schema_name(model)] = features_schema(model)
    for path, item in spec["paths"].items():
        for operation in item.values():
            for param in operation.get("parameters", []):
                if param["in"] == "path" and param["name"] == "name":
                    param["schema"] = {"type": "string", "enum": names}
                elif param["in"] == "path" and param["name"] == "version":
                    param["schema"] = {"type": "string", "enum": versions}
            if path.endswith(wire.OPERATION_ROUTES["predict"]) and named:
                _add_named_bodies(operation, list(named.values()))
            if secured and path not in wire.OPEN_ROUTES:
                operation["security"] = [{"bearer": []}, {"apiKey": []}]
                operation["responses"]["401"] = {
                    "description": ERROR_TEXT[401],
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
                    },
                }
    if secured:
        spec["components"]["securitySchemes"] = SECURITY_SCHEMES
    return spec


def features_schema_name(model: ModelSpec) -> str:
    return "".join(part.capitalize() for part in model.name.replace("-", "_").split("_")) + (
        "Features"
    )


def features_schema(model: ModelSpec) -> dict[str, Any]:
    """A named-input model's row as a JSON object: each field's type and bounds."""
    properties: dict[str, Any] = {}
    for feature in model.inputs or []:
        prop: dict[str, Any] = {"type": "integer" if feature.type == "int" else "number"}
        if feature.min is not None:
            prop["minimum"] = feature.min
        if feature.max is not None:
            prop["maximum"] = feature.max
        properties[feature.name] = prop
    return {
        "title": features_schema_name(model),
        "description": f"one row for model {model.name!r}, by feature name",
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _add_named_bodies(operation: dict[str, Any], models: list[ModelSpec]) -> None:
    content = operation["requestBody"]["content"]["application/json"]
    refs = [{"$ref": f"#/components/schemas/{features_schema_name(m)}"} for m in models]
    content["schema"] = {"anyOf": [content["schema"], *refs]}
