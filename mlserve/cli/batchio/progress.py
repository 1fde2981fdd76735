"""The batch progress bar (rich, on stderr): rows, rows/s, and an ETA when the size is known."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@contextmanager
def rows_progress(total_bytes: int | None) -> Iterator[Callable[[int, int], None]]:
    progress = Progress(
        TextColumn("[bold]batch"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows · {task.fields[rate]:,.0f} rows/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    task = progress.add_task("batch", total=total_bytes, rows=0, rate=0.0)
    rows_done = 0
    with progress:

        def advance(rows: int, bytes_read: int) -> None:
            nonlocal rows_done
            rows_done += rows
            elapsed = progress.tasks[0].elapsed or 1e-9
            progress.update(
                task,
                completed=bytes_read if total_bytes else rows_done,
                rows=rows_done,
                rate=rows_done / elapsed,
            )

        yield advance
