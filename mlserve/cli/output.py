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

from mlserve.errors import MlserveError

P = ParamSpec("P")
R = TypeVar("R")


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
            error(exc.message)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except BrokenPipeError:
            sys.stderr.close()  # downstream of a pipe closed early (e.g. `| head`)
            raise typer.Exit(0) from None

    return wrapper


@contextmanager
def stdout_table(title: str | None = None) -> Iterator[Any]:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    yield table
    Console().print(table)


def show_prediction(body: dict[str, Any]) -> None:
    """A prediction (or a list of them) as a table on the terminal."""
    rows = body.get("predictions", [body])
    with stdout_table(f"{body.get('model')} {body.get('version')}") as table:
        labels = list(rows[0].get("probabilities") or {})
        table.add_column("#", justify="right")
        table.add_column("prediction", style="bold")
        if rows[0].get("confidence") is not None:
            table.add_column("confidence", justify="right")
        for label in labels:
            table.add_column(f"p({label})", justify="right")
        for i, row in enumerate(rows):
            cells = [str(i), _cell(row["prediction"])]
            if row.get("confidence") is not None:
                cells.append(f"{row['confidence']:.3f}")
            cells += [f"{row['probabilities'][label]:.3f}" for label in labels]
            table.add_row(*cells)


def _cell(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
