"""What a reload reports beyond versions: routing it changed, and `server:` settings that
wait for a restart (the file's own section is compared, not the flags and variables on top)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from mlserve.config.environment import with_server
from mlserve.config.load import load_manifest
from mlserve.engine.core import InferenceCore
from tests.support import write_manifest

pytestmark = pytest.mark.unit

MODELS = """models:
  - {name: iris, version: v1, runtime: sklearn, path: iris-v1.joblib}
  - {name: iris, version: v2, runtime: sklearn, path: iris-v2.joblib}
"""


def reload_after(folder: Path, first: str, second: str, **flags: object) -> dict[str, list[str]]:
    """Serve `first` (under the command line's `flags`), write `second`, reload."""
    path = write_manifest(folder, first)
    core = InferenceCore(with_server(load_manifest(path), **flags))

    async def scenario() -> dict[str, list[str]]:
        await core.start()
        write_manifest(folder, second)
        try:
            return await core.reload()
        finally:
            await core.close()

    return asyncio.run(scenario())


def test_a_routing_edit_is_reported_by_model_name(iris_folder: Path) -> None:
    report = reload_after(
        iris_folder, MODELS, MODELS + "routing:\n  iris: {aliases: {stable: v1}}\n"
    )
    assert report["routing"] == ["iris"]
    assert (report["loaded"], report["kept"], report["restart_needed"]) == ([], [], [])


def test_server_edits_are_named_as_waiting_for_a_restart(
    iris_folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    edited = "server: {port: 9001, limits: {max_texts: 8}}\n" + MODELS
    with caplog.at_level(logging.WARNING, logger="mlserve"):
        report = reload_after(iris_folder, MODELS, edited)
    assert report["restart_needed"] == ["server.port", "server.limits"]
    assert "take effect at the next start" in caplog.text
    assert report["routing"] == []


def test_flags_over_the_file_are_not_mistaken_for_edits(iris_folder: Path) -> None:
    report = reload_after(iris_folder, MODELS, MODELS, port=9002, cpus=1)
    assert report["restart_needed"] == []
