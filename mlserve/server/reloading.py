"""Live manifest reload: on SIGHUP, on the admin route, and on file changes (`--watch`).

Each server process applies a reload to its own inference core. With `--workers N` the
supervisor passes SIGHUP on to every worker, and a worker asked over HTTP signals the
supervisor, so every worker applies the same manifest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from mlserve import wire
from mlserve.config.schema import Manifest
from mlserve.engine.core import InferenceCore
from mlserve.errors import MlserveError

log = logging.getLogger("mlserve.reload")
WATCH_DEBOUNCE_MS = 300  # a file written in several steps is read once


def tell_other_workers() -> None:
    """Under `--workers N`, have the supervisor pass the reload on to every worker."""
    supervisor = os.environ.get(wire.ENV_SUPERVISOR_PID)
    if supervisor and int(supervisor) != os.getpid():
        os.kill(int(supervisor), signal.SIGHUP)


# Applies the manifest file as it is now: the core's own `reload`, or (on the Ray backend) a
# request to the driver for an in-place update of the Ray Serve application.
Reload = Callable[[], Awaitable[dict[str, list[str]]]]


async def _reload_quietly(reload: Reload) -> None:
    with contextlib.suppress(MlserveError):  # already logged
        await reload()


@contextlib.asynccontextmanager
async def reloading(core: InferenceCore, reload: Reload, watch: bool) -> AsyncIterator[None]:
    """Reload on SIGHUP, and on changes to the manifest or a model file when `watch`."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    def on_hangup() -> None:
        log.info("SIGHUP: reloading %s", core.manifest.source)
        task = loop.create_task(_reload_quietly(reload))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    # No signals off the main thread: uvloop says ValueError, asyncio RuntimeError.
    with contextlib.suppress(NotImplementedError, ValueError, RuntimeError):
        loop.add_signal_handler(signal.SIGHUP, on_hangup)
    stop = asyncio.Event()
    watcher = loop.create_task(_watch(core, reload, stop)) if watch else None
    try:
        yield
    finally:
        with contextlib.suppress(NotImplementedError, ValueError, RuntimeError):
            loop.remove_signal_handler(signal.SIGHUP)
        stop.set()
        for task in [*tasks, *([watcher] if watcher else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def watched_files(manifest: Manifest) -> set[Path]:
    """The manifest and every model file or folder it names, as named (links kept) and as
    their links lead now (an edit of the target)."""
    named = {manifest.source.absolute(), *(m.path for m in manifest.models)}
    return named | {path.resolve() for path in named}


def linked_folders(files: set[Path]) -> set[Path]:
    """Folders in which a watched path goes through a link: any change there may repoint it
    (Kubernetes swaps a volume's `..data` link, whose name is in no manifest)."""
    folders = set()
    for path in files:
        for step in (path, *path.parents):
            if step.is_symlink():
                folders.add(step.parent)
    return folders


async def _watch(core: InferenceCore, reload: Reload, stop: asyncio.Event) -> None:
    from watchfiles import awatch  # comes with uvicorn[standard]

    while not stop.is_set():
        files = watched_files(core.manifest)
        linked = linked_folders(files)
        folders = {f if f.is_dir() else f.parent for f in files} | linked
        folders = {f for f in folders if f.exists()}

        def relevant(
            _: object, changed: str, files: set[Path] = files, linked: set[Path] = linked
        ) -> bool:
            path = Path(changed)
            return path.parent in linked or any(path == f or f in path.parents for f in files)

        log.info("watching %d file(s) and folder(s) for changes", len(files))
        async for _changes in awatch(
            *folders, watch_filter=relevant, stop_event=stop, debounce=WATCH_DEBOUNCE_MS
        ):
            log.info("files changed: reloading %s", core.manifest.source)
            await _reload_quietly(reload)
            break  # the manifest may name other files now: watch those
