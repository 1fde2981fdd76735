"""`mlserve predict`: one prediction, remote or --local."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
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
from mlserve.client.base import Operation
from mlserve.errors import InputError

TopK = Annotated[
    int | None,
    typer.Option(
        "--top-k", min=1, help="Show only the K most probable labels.", show_default=False
    ),
]


@handles_errors
def predict(
    source: Annotated[
        str | None, typer.Argument(help="'-' reads a JSON body from stdin.", show_default=False)
    ] = None,
    features: Annotated[
        str | None,
        typer.Option(
            "--features",
            "-f",
            help="Feature values separated by commas or spaces, e.g. 5.1,3.5,1.4,0.2.",
        ),
    ] = None,
    json_body: Annotated[
        str | None,
        typer.Option("--json", "-j", help='A JSON body, e.g. \'{"age": 42, "income": 52000}\'.'),
    ] = None,
    image: Annotated[
        Path | None,
        typer.Option(
            "--image", help="An image file for an image model.", exists=True, dir_okay=False
        ),
    ] = None,
    old_image: Annotated[
        Path | None,
        typer.Option("-i", hidden=True, exists=True, dir_okay=False, help="Deprecated: --image."),
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
    """Predict one row (or one image) with a model."""
    version = opt.model_version(model_version, old_version)
    if old_image is not None:  # -i is --input in `batch`; here it was --image
        typer.echo("mlserve: -i for --image is deprecated; use --image", err=True)
        image = image or old_image
    given = [x for x in (features, json_body, image) if x is not None]
    if source is not None and source != "-":
        raise fail_usage(f"unexpected argument {source!r}; use --features, --json, --image or -")
    if len(given) > 1 or (given and source == "-"):
        raise fail_usage("give only one of --features, --json, --image or -")
    operation: Operation = "predict_image" if image is not None else "predict"
    if image is not None:
        payload: Any = {"image_base64": base64.b64encode(image.read_bytes()).decode()}
    elif features is not None:
        payload = {"features": parse_features(features)}
    elif json_body is not None or source == "-" or not sys.stdin.isatty():
        payload = parse_json(json_body if json_body is not None else sys.stdin.read())
    else:
        raise fail_usage("nothing to predict: give --features, --json, --image or pipe JSON")
    with connect(url, local, manifest, api_key, timeout, retries) as client:
        body = keep_top(client.run(operation, payload, model, version), top_k)
    if wants_json(output):
        write_json(body)
    else:
        show_prediction(body)


def parse_features(text: str) -> list[float]:
    """`5.1,3.5,1.4,0.2`, or separated by spaces (as the console takes them), or both."""
    values = []
    items = text.split(",") if "," in text else text.split()
    for i, item in enumerate(items):
        try:
            values.append(float(item))
        except ValueError:
            raise InputError(f"--features: value {i} ({item.strip()!r}) is not a number") from None
    return values


def parse_json(text: str) -> Any:
    if not text.strip():
        raise InputError("nothing to predict: the input is empty (give --features, --json or -)")
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"input is not valid JSON: {exc}") from None
    # A bare list is a feature row; an object is sent as the body (features or named fields).
    return {"features": payload} if isinstance(payload, list) else payload


def register(app: typer.Typer) -> None:
    app.command()(predict)
