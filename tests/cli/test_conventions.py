"""The CLI habits users bring from other tools, and a CLI that stays in control when the
server misbehaves (each case here was a defect: a traceback, a hang, or a confusing message)."""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlserve._version import __version__
from tests.support import fake_server, run_cli, serving_process

SETOSA = "5.1,3.5,1.4,0.2"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_mlserve_version(flag: str) -> None:
    result = run_cli(flag)
    assert (result.code, result.stdout) == (0, f"mlserve {__version__}\n")


def test_model_version_forms(live_server: str) -> None:
    pinned = run_cli("predict", "--model", "iris:v1", "--features", SETOSA, "--url", live_server)
    assert pinned.code == 0, pinned.stderr
    assert json.loads(pinned.stdout)["version"] == "v1"
    flag = run_cli(
        "predict", "-m", "iris", "--model-version", "v1", "-f", SETOSA, "--url", live_server
    )
    assert json.loads(flag.stdout) == json.loads(pinned.stdout)
    old = run_cli("predict", "-m", "iris", "--version", "v1", "-f", SETOSA, "--url", live_server)
    assert json.loads(old.stdout) == json.loads(pinned.stdout)
    assert "--version/-v for the model version is deprecated" in old.stderr
    clash = run_cli("predict", "-m", "iris:v1", "--model-version", "v2", "-f", SETOSA)
    assert clash.code == 2
    assert "disagree" in clash.stderr


def test_url_without_a_scheme(live_server: str) -> None:
    """tritonclient and `mlserver infer` take host:port; so does mlserve now."""
    hostport = live_server.removeprefix("http://")
    result = run_cli("predict", "-f", SETOSA, "--url", hostport)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["prediction"] == "setosa"


def test_errors_name_flags_not_routes(live_server: str) -> None:
    result = run_cli("predict", "--model", "digits", "-f", SETOSA, "--url", live_server)
    assert result.code == 1
    assert "takes image input" in result.stderr
    assert "use `mlserve predict --image FILE`" in result.stderr
    assert "/predict/image" not in result.stderr


def test_empty_stdin_is_nothing_to_predict(live_server: str) -> None:
    result = run_cli("predict", "-", "--url", live_server, input="")
    assert result.code == 1
    assert "nothing to predict" in result.stderr
    assert "JSON" not in result.stderr.split("nothing to predict")[0]


def test_a_port_in_use_is_its_own_exit_code(sample_manifest: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        result = run_cli("serve", str(sample_manifest), "--port", str(port))
    assert result.code == 4
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_top_k_keeps_the_most_probable_labels(live_server: str) -> None:
    result = run_cli(
        "predict", "-m", "iris", "-f", "6.7,3.0,5.2,2.3", "--top-k", "1", "--url", live_server
    )
    body = json.loads(result.stdout)
    assert list(body["probabilities"]) == ["virginica"]


def test_output_is_a_format_everywhere(live_server: str) -> None:
    for args in (["predict", "-f", SETOSA], ["info"], ["classify", "I loved this film"]):
        result = run_cli(*args, "-o", "json", "--url", live_server)
        assert result.code == 0, (args, result.stderr)
        json.loads(result.stdout.splitlines()[0])


def on_terminal(args: list[str], columns: int = 80) -> str:
    """Run the CLI on a pseudo-terminal of `columns` columns; what the screen shows."""
    import os
    import pty
    import subprocess

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlserve", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": str(columns), "TERM": "xterm"},
    )
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    proc.wait(timeout=120)
    os.close(leader)
    return ANSI.sub("", screen.decode(errors="replace"))


def test_info_fits_80_columns_and_wide_shows_everything(live_server: str) -> None:
    compact = on_terminal(["info", "--url", live_server])
    rows = [line for line in compact.splitlines() if line.strip()]
    assert max(len(line.rstrip()) for line in rows) <= 80, compact
    assert "iris-torch" in compact
    assert "age, income, credit_score" in compact.replace("…", "") or "age, income" in compact
    wide = on_terminal(["info", "-o", "wide", "--url", live_server], columns=200)
    assert "device" in wide
    assert "labels" in wide


def test_classify_table_shows_the_text(live_server: str) -> None:
    screen = on_terminal(["classify", "I loved this film", "--url", live_server])
    assert "I loved this film" in screen
    assert "positive" in screen


def hang(conn: socket.socket) -> None:
    time.sleep(30)


def trickle(conn: socket.socket) -> None:
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    for _ in range(30):
        conn.sendall(b" ")
        time.sleep(0.5)


def garbage(body: bytes, status: bytes = b"200 OK") -> Callable[[socket.socket], None]:
    def reply(conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
        )

    return reply


@pytest.mark.parametrize(
    ("reply", "needle"),
    [
        (hang, "no complete answer"),
        (trickle, "no complete answer"),
        (garbage(b"{}"), "has no prediction"),
        (garbage(b'{"predictions": 5}'), "has no prediction"),
        (garbage(b"<html>proxy</html>", b"200 OK"), "not mlserve's API"),
        (garbage(b"<html>bad gateway</html>", b"502 Bad Gateway"), "HTTP 502"),
    ],
)
def test_a_misbehaving_server_gets_one_clear_line(
    reply: Callable[[socket.socket], None], needle: str
) -> None:
    with fake_server(reply) as url:
        started = time.monotonic()
        result = run_cli("predict", "-f", SETOSA, "--url", url, "--timeout", "2", "--retries", "1")
        elapsed = time.monotonic() - started
    assert result.code == 3, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert elapsed < 20  # two tries of a 2 s deadline and a backoff, not a hang


def test_serving_and_querying_with_host_port_env(sample_manifest: Path) -> None:
    with serving_process(str(sample_manifest)) as served:
        result = run_cli(
            "info", "-o", "json", env={"MLSERVE_URL": served.url.removeprefix("http://")}
        )
        assert result.code == 0, result.stderr
        assert {m["model"] for m in json.loads(result.stdout)["models"]} >= {"iris", "sentiment"}


def test_batch_answers_on_a_terminal_are_not_mixed_with_a_progress_bar(
    live_server: str, tmp_path: Path
) -> None:
    source = tmp_path / "rows.csv"
    source.write_text("5.1,3.5,1.4,0.2\n" * 3000)
    screen = on_terminal(["batch", "-i", str(source), "--url", live_server, "--chunk-size", "100"])
    assert screen.count('"row":') == 3000
    assert "rows/s" not in screen
    assert "3000 rows read, 3000 written" in screen


def test_old_spellings_still_work_with_a_note(
    live_server: str, samples: Path, tmp_path: Path
) -> None:
    png = str(samples / "digits" / "7.png")
    old = run_cli("predict", "-m", "digits", "-i", png, "--url", live_server)
    new = run_cli("predict", "-m", "digits", "--image", png, "--url", live_server)
    assert old.code == new.code == 0, old.stderr
    assert old.stdout == new.stdout
    assert "-i for --image is deprecated; use --image" in old.stderr
    rows = tmp_path / "rows.csv"
    rows.write_text("5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
    old = run_cli("batch", "-m", "iris", "-i", str(rows), "--json", "--url", live_server)
    new = run_cli("batch", "-m", "iris", "-i", str(rows), "--no-binary", "--url", live_server)
    assert old.code == new.code == 0, old.stderr
    assert old.stdout == new.stdout
    assert "batch --json is deprecated; use --no-binary" in old.stderr
