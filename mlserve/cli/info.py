"""`mlserve info`: what a server (or a manifest, with --local) serves."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from mlserve.cli import options as opt
from mlserve.cli.connect import connect
from mlserve.cli.output import handles_errors, stdout_table, wants_json, write_json

InfoFormat = Annotated[
    Literal["auto", "json", "table", "wide"],
    typer.Option(
        "--output",
        "-o",
        help="auto: a compact table on a terminal (80 columns), JSON when piped; "
        "wide: every column.",
    ),
]
COMPACT = ["model", "version", "status", "runtime", "takes"]
WIDE = [*COMPACT, "default", "framework", "engine", "device", "threads", "task", "labels", "reason"]


@handles_errors
def info(
    url: opt.Url = opt.DEFAULT_URL,
    local: opt.Local = False,
    manifest: opt.ManifestPath = opt.DEFAULT_MANIFEST,
    api_key: opt.ApiKey = None,
    timeout: opt.Timeout = opt.DEFAULT_TIMEOUT_S,
    retries: opt.Retries = opt.DEFAULT_RETRIES,
    output: InfoFormat = "auto",
) -> None:
    """List every model version: status, runtime, what it takes (-o wide: device, labels...)."""
    with connect(url, local, manifest, api_key, timeout, retries) as client:
        body = client.info()
    if output == "wide":
        show_info(body, wide=True)
    elif wants_json(output):
        write_json(body)
    else:
        show_info(body, wide=False)


def show_info(body: dict[str, Any], *, wide: bool) -> None:
    """One row per model version; a replicas column when a backend runs several copies."""
    columns = WIDE if wide else COMPACT
    if any("replicas" in m for m in body["models"]):
        columns = [*columns, "replicas"]
    title = f"default model: {body.get('default_model')}"
    budget = body.get("cpu_budget")
    if budget:
        title += f" · CPU budget: {budget['cpus']} ({budget['source']})"
    with stdout_table(title) as table:
        for column in columns:
            table.add_column(column, overflow="fold" if wide else "ellipsis")
        for m in body["models"]:
            table.add_row(*(_cell(m, column) for column in columns))
    if body.get("routing"):
        show_routing(body["routing"])


def show_routing(routing: dict[str, Any]) -> None:
    """Aliases, traffic weights and shadows, with what each shadow measured."""
    with stdout_table("routing") as table:
        for column in ("model", "aliases", "traffic", "shadow", "agreement"):
            table.add_column(column, overflow="fold")
        for name, route in routing.items():
            aliases = ", ".join(f"{a} -> {v}" for a, v in route.get("aliases", {}).items())
            traffic = ", ".join(f"{v} {p:g}%" for v, p in route.get("traffic", {}).items())
            shadow = route.get("shadow") or {}
            agreement = ""
            if shadow:
                measured = shadow.get("agreement")
                agreement = (
                    f"{'-' if measured is None else f'{measured:.1%}'} of "
                    f"{shadow.get('requests', 0)} requests, {shadow.get('errors', 0)} errors, "
                    f"{shadow.get('dropped', 0)} dropped"
                )
            target = f"{shadow['version']} {shadow['percent']:g}%" if shadow else ""
            table.add_row(name, aliases, traffic, target, agreement)


def _cell(model: dict[str, Any], column: str) -> str:
    value: Any
    if column == "version":
        value = model["version"] + (" *" if model.get("default") else "")
    elif column == "takes":
        value = _takes(model)
    elif column == "default":
        value = "yes" if model.get("default") else ""
    elif column == "framework" and model.get("framework"):
        value = f"{model['framework']} {model.get('framework_version') or ''}".strip()
    elif column == "labels":
        value = ", ".join(model.get("labels") or [])
    elif column == "replicas" and model.get("replica_details"):
        where = ", ".join(f"{r['node']} {r['state']}" for r in model["replica_details"])
        value = f"{model.get('replicas')} ({where})"
    else:
        value = model.get(column)
    return "" if value is None else str(value)


def _takes(model: dict[str, Any]) -> str:
    if model.get("inputs"):
        return ", ".join(f["name"] for f in model["inputs"])
    if model.get("n_features"):
        return f"{model['n_features']} features"
    return str(model.get("input_kind") or "")


def register(app: typer.Typer) -> None:
    app.command()(info)
