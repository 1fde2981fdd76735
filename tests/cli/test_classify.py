"""`mlserve classify` and `mlserve predict --image`, remote and --local."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import run_cli


def test_classify_arguments_remote_equals_local(live_server: str, sample_manifest: Path) -> None:
    texts = ("I loved this film", "a dull, tedious mess")
    remote = run_cli("classify", *texts, "--model", "sentiment", "--url", live_server)
    local = run_cli(
        "classify", *texts, "--model", "sentiment", "--local", "--manifest", str(sample_manifest)
    )
    assert remote.code == 0, remote.stderr
    assert local.code == 0, local.stderr
    lines = [json.loads(line) for line in remote.stdout.splitlines()]
    assert [line["prediction"] for line in lines] == ["positive", "negative"]
    assert lines == [json.loads(line) for line in local.stdout.splitlines()]


def test_classify_reads_lines_from_stdin(live_server: str) -> None:
    text = (
        "Great job, I am really happy with the result.\n\nBoring, predictable and far too long.\n"
    )
    for args in (["-"], []):
        result = run_cli(
            "classify", *args, "--model", "sentiment", "--url", live_server, input=text
        )
        assert result.code == 0, result.stderr
        got = [json.loads(line)["prediction"] for line in result.stdout.splitlines()]
        assert got == ["positive", "negative"]


def test_classify_many_texts_in_chunks(live_server: str) -> None:
    text = "\n".join(["I loved this film"] * 150)
    result = run_cli("classify", "--model", "sentiment", "--url", live_server, input=text)
    assert result.code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 150


def test_classify_errors(live_server: str) -> None:
    tabular = run_cli("classify", "hello", "--model", "iris", "--url", live_server)
    assert tabular.code == 1
    assert "takes tabular input" in tabular.stderr
    nothing = run_cli("classify", "--url", live_server, input="")
    assert nothing.code == 2


def test_predict_image_remote_equals_local(
    live_server: str, sample_manifest: Path, samples: Path
) -> None:
    png = str(samples / "digits" / "3.png")
    remote = run_cli("predict", "--model", "digits", "--image", png, "--url", live_server)
    local = run_cli(
        "predict",
        "--model",
        "digits",
        "--image",
        png,
        "--local",
        "--manifest",
        str(sample_manifest),
    )
    assert remote.code == 0, remote.stderr
    assert json.loads(remote.stdout) == json.loads(local.stdout)
    assert json.loads(remote.stdout)["prediction"] == "3"


def test_predict_image_that_is_not_an_image(live_server: str, tmp_path: Path) -> None:
    fake = tmp_path / "fake.png"
    fake.write_text("not really a png")
    result = run_cli("predict", "--model", "digits", "--image", str(fake), "--url", live_server)
    assert result.code == 1
    assert "not an image" in result.stderr


def test_classify_without_model_reaches_the_text_model(
    live_server: str, sample_manifest: Path
) -> None:
    """The tool's headline usage failed on the sample manifest: "model 'iris' takes tabular
    input" (the default model is iris; classify now goes to the default text model)."""
    remote = run_cli("classify", "I loved this film", "--url", live_server)
    local = run_cli("classify", "I loved this film", "--local", "--manifest", str(sample_manifest))
    assert remote.code == 0, remote.stderr
    assert local.code == 0, local.stderr
    answer = json.loads(remote.stdout)
    assert (answer["model"], answer["label"]) == ("sentiment", "positive")
    assert json.loads(local.stdout) == answer
