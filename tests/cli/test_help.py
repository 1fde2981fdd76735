"""`--help` as a user reads it: placeholders that say what to pass, summaries that fit."""

from __future__ import annotations

import re

import pytest

from tests.support import run_cli

pytestmark = pytest.mark.unit

COMMANDS = ["serve", "validate", "predict", "batch", "classify", "info", "load", "unload"]
PYTHON_TYPES = re.compile(r"<(str|int|float|path|file|int range|float range|list\[[^>]*\])>")


@pytest.mark.parametrize("command", [*COMMANDS, "reload"])
def test_values_are_named_for_what_they_stand_for(command: str) -> None:
    shown = run_cli(command, "--help", env={"COLUMNS": "100"})
    assert shown.code == 0, shown.stderr
    assert PYTHON_TYPES.findall(shown.stdout) == []
    if command in ("predict", "batch", "classify", "load", "unload"):
        assert "NAME[:VERSION]" in shown.stdout
    if command != "validate":
        assert re.search(r"--(timeout|grace-period) SECONDS", shown.stdout)


def test_every_command_summary_is_whole_at_80_columns() -> None:
    shown = run_cli("--help", env={"COLUMNS": "80"}).stdout
    summaries = shown.split("Commands:")[1].strip().splitlines()
    assert len(summaries) == len(COMMANDS) + 1
    for line in summaries:
        assert not line.rstrip().endswith("..."), line
        assert line.rstrip().endswith("."), line


def test_one_letter_flags_mean_one_thing() -> None:
    meaning: dict[str, str] = {}
    for command in [*COMMANDS, "reload"]:
        shown = run_cli(command, "--help", env={"COLUMNS": "200"}).stdout
        for short, long in re.findall(r"^\s+(-[a-zA-Z]), (--[a-z-]+)", shown, re.MULTILINE):
            assert meaning.setdefault(short, long) == long, (command, short, long)
    assert meaning["-i"] == "--input"
