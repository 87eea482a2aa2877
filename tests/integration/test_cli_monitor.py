"""``driftline monitor run/backfill/history`` through the real entry point, against a real
MLflow champion and a SQLite store (exit codes included)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from driftline.config.settings import Settings
from tests.conftest import Cli, cli_runner
from tests.simdata import CHAMPION_DAY, iso_day, monitored_home

KEY = "c" * 32


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("cli-monitor")
    return monitored_home(root, KEY, champions=["pp_cli"], orphans=["pp_nochamp"])


@pytest.fixture
def cli(
    home: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    monkeypatch.setenv("DRIFTLINE_HOME", str(home.home))
    monkeypatch.setenv("DRIFTLINE_SPECS_DIR", str(home.specs_dir))
    monkeypatch.setenv("DRIFTLINE_PSEUDONYM_KEY", KEY)
    yield cli_runner(monkeypatch, capsys)


def test_run_then_history(cli: Cli, home: Settings) -> None:
    code, text = cli("monitor", "run", "-m", "pp_cli", "--window-end", iso_day(CHAMPION_DAY + 1))
    assert code == 0, text
    assert "against champion v1" in text
    assert "status ok, decision none" in text
    assert str(home.reports_dir() / "pp_cli") in " ".join(text.split())
    code, text = cli("monitor", "run", "-m", "pp_cli", "--window-end", iso_day(35))
    assert code == 0, text
    assert "decision retrain (severity critical)" in text
    assert "realized roc_auc" in text and "of champion v1" in text
    code, text = cli("monitor", "history", "-m", "pp_cli")
    assert code == 0, text
    lines = [line for line in text.splitlines() if "2026-" in line]
    assert "retrain" in lines[0] and "critical" in lines[0]  # newest window first
    assert "(v1)" in lines[0]  # the realized metrics are v1's predictions'
    assert "none" in lines[1]


def test_backfill_prints_a_timeline(cli: Cli) -> None:
    code, text = cli(
        "monitor", "backfill", "-m", "pp_cli", "--start", iso_day(22), "--end", iso_day(25)
    )
    assert code == 0, text
    assert sum(" 00:00 to 2026-" in line for line in text.splitlines()) == 3


def test_failures_exit_2_with_the_reason(cli: Cli) -> None:
    code, text = cli("monitor", "run", "-m", "pp_nochamp", "--window-end", iso_day(30))
    assert code == 2
    assert "has no champion yet" in " ".join(text.split())
    code, text = cli("monitor", "run", "-m", "no_such_model")
    assert code == 2 and "no spec for model 'no_such_model'" in " ".join(text.split())
    code, text = cli(
        "monitor", "backfill", "-m", "pp_nochamp", "--start", iso_day(22), "--end", iso_day(24)
    )
    assert code == 2 and "2 of 2 windows failed" in text
    code, text = cli("monitor", "history", "-m", "nobody")
    assert code == 0 and "no monitor runs stored for 'nobody' yet" in text
