"""`mlserve info`: what a server (or a manifest, with --local) serves."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from mlserve.cli import options as opt
from mlserve.cli.connect import connect
from mlserve.cli.output import handles_errors, stdout_table, wants_json, write_json

InfoFormat = Annotated[
    Literal["auto", "json", "table", "wide", "tsv"],
    typer.Option(
        "--output",
        "-o",
        help="auto: a compact table on a terminal (80 columns), JSON when piped; "
        "wide: every column, one line per version, however long; tsv: the same, tab-separated.",
    ),
]
COMPACT = ["model", "version", "status", "runtime", "takes"]
# The version column marks the default with `*`; a column empty in every row is left out.
WIDE = [*COMPACT, "framework", "engine", "device", "threads", "task", "labels", "reason"]


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
    """List every model version and its state.

    Status, runtime, what it takes (-o wide: device, labels...)."""
    with connect(url, local, manifest, api_key, timeout, retries) as client:
        body = client.info()
    if output in ("wide", "tsv"):
        show_lines(body, separator="\t" if output == "tsv" else "  ")
    elif wants_json(output):
        write_json(body)
    else:
        show_info(body)


def show_info(body: dict[str, Any]) -> None:
    """The compact table, one row per model version; a replicas column when a backend runs
    several copies."""
    columns = COMPACT
    if any("replicas" in m for m in body["models"]):
        columns = [*columns, "replicas"]
    title = f"default model: {body.get('default_model')}"
    budget = body.get("cpu_budget")
    if budget:
        title += f" · CPU budget: {budget['cpus']} ({budget['source']})"
    with stdout_table(title) as table:
        for column in columns:
            table.add_column(column, overflow="ellipsis")
        for m in body["models"]:
            table.add_row(*(_cell(m, column) for column in columns))
    if body.get("routing"):
        show_routing(body["routing"])


def show_lines(body: dict[str, Any], separator: str) -> None:
    """Every column, one line per version: a line may run past the terminal, a word is never
    split across lines. Columns with no value in any row are left out."""
    columns = [*WIDE, *(["replicas"] if any("replicas" in m for m in body["models"]) else [])]
    rows = [[_cell(m, c) for c in columns] for m in body["models"]]
    kept = [i for i, _ in enumerate(columns) if any(row[i] for row in rows)]
    table = [[columns[i] for i in kept], *([row[i] for i in kept] for row in rows)]
    if separator == "\t":
        lines = ["\t".join(cell.replace("\t", " ") for cell in row) for row in table]
    else:
        widths = [max(len(row[i]) for row in table) for i in range(len(kept))]
        lines = [
            separator.join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in table
        ]
    typer.echo("\n".join(lines))


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
    elif column == "reason":  # why it failed, or why a reload's replacement did
        value = model.get("replacement_error") or model.get("reason")
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
