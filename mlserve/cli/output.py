"""Where things go: results to stdout (table on a terminal, JSON when piped), errors and
progress to stderr, failures to exit codes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import orjson
import typer

from mlserve.errors import InputError, MlserveError

P = ParamSpec("P")
R = TypeVar("R")

# What to type instead, when a model takes another kind of input than the command sent.
CLI_HINTS = {
    "image": "use `mlserve predict --image FILE`",
    "text": "use `mlserve classify TEXT`",
    "tabular": "use `mlserve predict --features ...`, `--json` or `mlserve batch`",
}


def cli_message(exc: MlserveError) -> str:
    """The error in the CLI's words: flags and commands, not HTTP routes."""
    kind = exc.detail.get("input_kind")
    if isinstance(exc, InputError) and kind in CLI_HINTS:
        return f"{exc.message.split('; use ')[0]}: {CLI_HINTS[kind]}"
    return exc.message


def wants_json(output: str) -> bool:
    return output == "json" or (output == "auto" and not sys.stdout.isatty())


def write_json(body: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    sys.stdout.flush()


def error(message: str) -> None:
    if sys.stderr.isatty():
        from rich.console import Console

        Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False)
    else:
        print(f"error: {message}", file=sys.stderr)


def fail_usage(message: str) -> typer.Exit:
    error(message)
    return typer.Exit(2)


def handles_errors(command: Callable[P, R]) -> Callable[P, R]:
    """MlserveError -> one line on stderr and its exit code; never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except MlserveError as exc:
            error(cli_message(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except BrokenPipeError:
            sys.stderr.close()  # downstream of a pipe closed early (e.g. `| head`)
            raise typer.Exit(0) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug: one line, not a traceback, in a shell pipeline
            error(f"unexpected {type(exc).__name__}: {exc} (a bug in mlserve; please report it)")
            raise typer.Exit(1) from None

    return wrapper


@contextmanager
def stdout_table(title: str | None = None) -> Iterator[Any]:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    yield table
    Console().print(table)


def keep_top(body: dict[str, Any], top_k: int | None) -> dict[str, Any]:
    """Only the `top_k` most probable labels of each prediction (for many-label models)."""
    if top_k is None:
        return body
    for row in body.get("predictions", [body]):
        probabilities = row.get("probabilities")
        if isinstance(probabilities, dict):
            best = sorted(probabilities.items(), key=lambda item: -item[1])[:top_k]
            row["probabilities"] = dict(best)
    return body


def show_prediction(body: dict[str, Any]) -> None:
    """A prediction (or a list of them) as a table on the terminal; a text model's rows show
    their text, and many labels collapse into one `top labels` column."""
    rows = body.get("predictions", [body])
    with stdout_table(f"{body.get('model')} {body.get('version')}") as table:
        labels = list(rows[0].get("probabilities") or {})
        wide = len(labels) <= 4
        has_text = "text" in rows[0]
        table.add_column("#", justify="right")
        if has_text:
            table.add_column("text", overflow="ellipsis", no_wrap=True, max_width=40)
        table.add_column("prediction", style="bold")
        if rows[0].get("confidence") is not None:
            table.add_column("confidence", justify="right")
        for label in labels if wide else ["top labels"]:
            table.add_column(f"p({label})" if wide else label, justify="right")
        for i, row in enumerate(rows):
            cells = [str(i)] + ([str(row["text"])] if has_text else [])
            cells.append(_cell(row["prediction"]))
            if row.get("confidence") is not None:
                cells.append(f"{row['confidence']:.3f}")
            probabilities = row.get("probabilities") or {}
            if wide:
                cells += [f"{probabilities[label]:.3f}" for label in labels]
            elif probabilities:
                best = sorted(probabilities.items(), key=lambda item: -item[1])[:3]
                cells.append(", ".join(f"{k} {v:.2f}" for k, v in best))
            table.add_row(*cells)


def _cell(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
