"""``driftline ui`` for real: a clear error when a port is taken; the Prefect UI on
non-default ports, on the home's own database, seen in headless Chromium; SIGTERM stops
every child."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Cli, cli_runner

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path / "home"))
    return cli_runner(monkeypatch, capsys)


def test_a_taken_port_names_the_service_the_holder_and_the_flag(cli: Cli, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        free = [str(_free_port()), str(_free_port())]
        code, text = cli(
            "ui", "--mlflow-port", str(port), "--evidently-port", free[0], "--prefect-port", free[1]
        )
    text = " ".join(text.split())
    assert code == 2, text
    assert f"port {port} for the MLflow UI is taken by another program (pid {os.getpid()}" in text
    assert "--mlflow-port N" in text and "DRIFTLINE_MLFLOW_UI_URL" in text
    assert not (tmp_path / "home" / "logs").exists()  # nothing was started


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _run_a_flow(tmp_path: Path, env: dict[str, str], api_url: str) -> None:
    """One flow run through the UI's own Prefect API (as `driftline serve` or a worker
    pointed at it would make)."""
    script = tmp_path / "fill.py"
    script.write_text(
        "from prefect import flow\n\n\n@flow(name='filled-home-flow')\n"
        "def fill() -> int:\n    return 1\n\n\nfill()\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        env={**env, "PREFECT_API_URL": api_url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (CI installs it)")
def test_ui_shows_the_homes_flow_runs_on_its_own_ports_and_sigterm_stops_every_child(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DRIFTLINE_"))} | {
        "DRIFTLINE_HOME": str(home),
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "COLUMNS": "200",
    }
    ports = [_free_port() for _ in range(3)]
    out_path = tmp_path / "ui.out"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-c", "from driftline.cli import main; main()", "ui"),
                *("--evidently-port", str(ports[0]), "--mlflow-port", str(ports[1])),
                *("--prefect-port", str(ports[2])),
            ],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    children: set[int] = set()
    try:
        deadline = time.monotonic() + 600
        while "press Ctrl-C" not in out_path.read_text():
            assert proc.poll() is None, out_path.read_text()
            assert time.monotonic() < deadline, out_path.read_text()
            children |= _descendants(proc.pid)
            time.sleep(1)
        children |= _descendants(proc.pid)
        printed = out_path.read_text()
        assert f"Prefect   http://127.0.0.1:{ports[2]}  up" in printed
        _run_a_flow(tmp_path, env, f"http://127.0.0.1:{ports[2]}/api")
        with sqlite3.connect(home / "prefect" / "prefect.db") as db:  # the home's own state
            assert db.execute("select name from flow").fetchall() == [("filled-home-flow",)]
        dom = subprocess.run(
            [
                str(CHROMIUM),
                *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic"),
                *("--no-first-run", "--disable-background-networking"),
                *("--disable-component-update", "--disable-sync"),
                f"--user-data-dir={tmp_path / 'chromium'}",
                "--virtual-time-budget=30000",
                "--dump-dom",
                f"http://127.0.0.1:{ports[2]}/runs",
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        ).stdout
        text = re.sub(r"<[^>]+>", " ", dom)
        assert "Can't connect" not in text
        assert "filled-home-flow" in text  # the home's database, through its own API
        assert re.search(r"\b1 run\b", text), text[:2000]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode == 0, out_path.read_text()
    assert "stopping" in out_path.read_text()
    assert len(children) >= 3  # the three servers (and their workers)
    time.sleep(1)
    assert [pid for pid in children if _alive(pid)] == []
