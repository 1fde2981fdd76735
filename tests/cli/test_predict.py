"""`mlserve predict`, remote and --local, as a real subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import free_port, run_cli

IRIS = "5.1,3.5,1.4,0.2"
CREDIT = '{"age": 42, "income": 52000, "credit_score": 710}'


@pytest.mark.parametrize(
    "args",
    [
        ("--model", "iris", "--features", IRIS),
        ("--model", "iris", "--version", "v1", "--features", IRIS),
        ("--model", "credit", "--json", CREDIT),
        ("--features", "6.7,3.0,5.2,2.3"),
    ],
)
def test_remote_answer_equals_local(
    live_server: str, sample_manifest: Path, args: tuple[str, ...]
) -> None:
    remote = run_cli("predict", *args, "--url", live_server)
    local = run_cli("predict", *args, "--local", "--manifest", str(sample_manifest))
    assert remote.code == 0, remote.stderr
    assert local.code == 0, local.stderr
    assert json.loads(remote.stdout) == json.loads(local.stdout)
    assert json.loads(remote.stdout)["prediction"]


def test_json_from_stdin_and_env_url(live_server: str) -> None:
    result = run_cli(
        "predict", "--model", "credit", "-", input=CREDIT, env={"MLSERVE_URL": live_server}
    )
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["model"] == "credit"
    bare = run_cli("predict", input="[5.1, 3.5, 1.4, 0.2]", env={"MLSERVE_URL": live_server})
    assert json.loads(bare.stdout)["prediction"] == "setosa"


def test_manifest_from_env(sample_manifest: Path) -> None:
    result = run_cli(
        "predict", "--local", "--features", IRIS, env={"MLSERVE_MANIFEST": str(sample_manifest)}
    )
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["prediction"] == "setosa"


def test_bad_input_exit_1_with_message_on_stderr(live_server: str, sample_manifest: Path) -> None:
    for where in (["--url", live_server], ["--local", "--manifest", str(sample_manifest)]):
        result = run_cli(
            "predict",
            "--model",
            "credit",
            "--json",
            '{"age": 12, "income": 1, "credit_score": 500}',
            *where,
        )
        assert result.code == 1
        assert result.stdout == ""
        assert "field 'age' must be >= 18, got 12" in result.stderr
        assert "Traceback" not in result.stderr
        wrong = run_cli("predict", "--features", "1,2,3", *where)
        assert wrong.code == 1
        assert "expected 4 features, got 3" in wrong.stderr


def test_not_a_number_and_bad_json(live_server: str) -> None:
    result = run_cli("predict", "--features", "5.1,abc", "--url", live_server)
    assert result.code == 1
    assert "('abc') is not a number" in result.stderr
    bad = run_cli("predict", "--json", "{nope", "--url", live_server)
    assert bad.code == 1
    assert "not valid JSON" in bad.stderr


def test_unreachable_server_exit_3_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli("predict", "--features", IRIS, "--url", url)
    assert result.code == 3
    assert url in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2(live_server: str) -> None:
    both = run_cli("predict", "--features", IRIS, "--json", "{}", "--url", live_server)
    assert both.code == 2
    assert "only one of" in both.stderr
    unknown = run_cli("predict", "--nope")
    assert unknown.code == 2


def test_unknown_model_exit_1(live_server: str) -> None:
    result = run_cli("predict", "--model", "nope", "--features", IRIS, "--url", live_server)
    assert result.code == 1
    assert "unknown model 'nope'" in result.stderr


def test_table_output_when_asked(live_server: str) -> None:
    result = run_cli("predict", "--features", IRIS, "--url", live_server, "--output", "table")
    assert result.code == 0
    assert "setosa" in result.stdout
    assert "p(virginica)" in result.stdout


def test_features_may_be_separated_by_spaces_as_in_the_console(live_server: str) -> None:
    spaced = run_cli("predict", "--features", "5.1 3.5 1.4 0.2", "--url", live_server)
    commas = run_cli("predict", "--features", "5.1,3.5,1.4,0.2", "--url", live_server)
    assert spaced.code == 0, spaced.stderr
    assert json.loads(spaced.stdout)["prediction"] == json.loads(commas.stdout)["prediction"]
    assert json.loads(spaced.stdout)["prediction"] == "setosa"
