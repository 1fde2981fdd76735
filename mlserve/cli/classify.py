"""`mlserve classify TEXT...`: classify texts with a text model, remote or --local."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from mlserve.cli import options as opt
from mlserve.cli.connect import connect
from mlserve.cli.output import (
    fail_usage,
    handles_errors,
    keep_top,
    show_prediction,
    wants_json,
    write_json,
)
from mlserve.cli.predict import TopK

CHUNK = 64


@handles_errors
def classify(
    texts: Annotated[
        list[str] | None,
        typer.Argument(
            help="Texts to classify; '-' (or a pipe) reads one text per line from stdin.",
            show_default=False,
        ),
    ] = None,
    model: opt.Model = None,
    model_version: opt.ModelVersion = None,
    old_version: opt.OldVersion = None,
    url: opt.Url = opt.DEFAULT_URL,
    local: opt.Local = False,
    manifest: opt.ManifestPath = opt.DEFAULT_MANIFEST,
    api_key: opt.ApiKey = None,
    timeout: opt.Timeout = opt.DEFAULT_TIMEOUT_S,
    retries: opt.Retries = opt.DEFAULT_RETRIES,
    output: opt.OutputFormat = "auto",
    top_k: TopK = None,
) -> None:
    """Classify texts with a text model.

    The default text model unless --model says; prints one JSON
    line per text when piped, a table with the texts on a terminal."""
    version = opt.model_version(model_version, old_version)
    items = list(texts or [])
    if items == ["-"] or (not items and not sys.stdin.isatty()):
        items = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not items:
        raise fail_usage("nothing to classify: give texts as arguments or pipe them in")
    answers: list[dict[str, Any]] = []
    with connect(url, local, manifest, api_key, timeout, retries) as client:
        for start in range(0, len(items), CHUNK):  # stay under the server's per-request limit
            chunk = {"texts": items[start : start + CHUNK]}
            body = keep_top(client.run("classify", chunk, model, version), top_k)
            head = {"model": body["model"], "version": body["version"]}
            if wants_json(output):
                for row in body["predictions"]:
                    write_json({**head, **row})
            answers += body["predictions"]
    if not wants_json(output):
        show_prediction({**head, "predictions": answers})


def register(app: typer.Typer) -> None:
    app.command()(classify)
