"""`mlserve info`: what a server (or a manifest, with --local) serves."""

from __future__ import annotations

from typing import Any

import typer

from mlserve.cli import options as opt
from mlserve.cli.connect import connect
from mlserve.cli.output import handles_errors, stdout_table, wants_json, write_json


@handles_errors
def info(
    url: opt.Url = opt.DEFAULT_URL,
    local: opt.Local = False,
    manifest: opt.ManifestPath = opt.DEFAULT_MANIFEST,
    api_key: opt.ApiKey = None,
    output: opt.OutputFormat = "auto",
) -> None:
    """List every model version: runtime, status, device, inputs, labels."""
    with connect(url, local, manifest, api_key) as client:
        body = client.info()
    if wants_json(output):
        write_json(body)
    else:
        show_info(body)


def show_info(body: dict[str, Any]) -> None:
    """One row per model version; a replicas column when a backend runs several copies."""
    replicas = any("replicas" in m for m in body["models"])
    columns = [
        "model",
        "version",
        "default",
        "runtime",
        "status",
        "device",
        "task",
        "inputs",
        "labels",
    ] + (["replicas"] if replicas else [])
    with stdout_table(f"default model: {body.get('default_model')}") as table:
        for column in columns:
            table.add_column(column)
        for m in body["models"]:
            status = m["status"] if m["status"] != "failed" else f"failed: {m['reason']}"
            inputs = ", ".join(f["name"] for f in m["inputs"]) if m.get("inputs") else _features(m)
            cells = [
                m["model"],
                m["version"],
                "yes" if m["default"] else "",
                m["runtime"],
                status,
                m.get("device") or "",
                m.get("task") or "",
                inputs,
                ", ".join(m.get("labels") or []),
            ]
            table.add_row(*cells, *([str(m.get("replicas", ""))] if replicas else []))


def _features(model: dict[str, Any]) -> str:
    if model.get("n_features"):
        return f"{model['n_features']} features"
    return str(model.get("input_kind") or "")


def register(app: typer.Typer) -> None:
    app.command()(info)
