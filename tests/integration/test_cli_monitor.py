"""``driftline monitor run/backfill/history`` through the real entry point, against a real
MLflow champion and a SQLite store (exit codes included)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from driftline.config.settings import Settings
from driftline.data import ingest
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.specs import find_spec
from tests.conftest import Cli, cli_runner
from tests.lifecycle_data import day, world
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


MARKUP = ("[/]", "[link=https://evil.example]click me[/link]", "[bold red]x", ":thumbs_up:")


def test_markup_in_data_is_printed_literally(cli: Cli, home: Settings, tmp_path: Path) -> None:
    """Category values that look like rich markup are shown as they are, after the run
    was stored (exit 0), and none becomes a terminal hyperlink; the same holds for an
    error message that quotes a column name."""
    sim = world("concept_drift")
    rows = sim.predictions[sim.predictions["event_ts"] >= day(sim, 36)].head(1000).copy()
    rows["request_id"] = "markup-" + rows["request_id"].astype(str)
    rows["event_ts"] = rows["event_ts"] + pd.Timedelta(days=6)  # day 42: a window of its own
    for i, value in enumerate(MARKUP):
        rows.iloc[i * 40 : (i + 1) * 40, rows.columns.get_loc("channel")] = value
    store = Store.from_settings(home)
    try:
        ingest.log_predictions(
            store, find_spec("pp_cli", home.specs_dir), rows, Pseudonymizer(KEY.encode()),
            model_version=1,
        )  # fmt: skip
    finally:
        store.dispose()
    code, text = cli("monitor", "run", "-m", "pp_cli", "--window-end", iso_day(43))
    assert code == 0, text
    flat = " ".join(text.split())
    for value in MARKUP:
        assert repr(value) in flat, value  # the unseen category, printed as it is
    assert "\x1b]8;" not in text  # no OSC 8 hyperlink escape
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"[/]": [1], "[link=https://evil.example]x[/link]": [2]}).to_csv(bad, index=False)
    code, text = cli("ingest", "predictions", str(bad), "-m", "pp_cli")
    assert code == 2
    assert "'[/]'" in text and "[link=https://evil.example]x[/link]" in " ".join(text.split())


SECRET = "s3cret-pw-4242"


def test_no_credential_of_the_tracking_uri_is_printed_stored_or_alerted(
    cli: Cli, home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unreachable MLflow server whose URI holds a password: every command says what
    is wrong without the password, and neither the failed run nor its alert keeps it."""
    monkeypatch.setenv("DRIFTLINE_MLFLOW_TRACKING_URI", f"http://alice:{SECRET}@127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    for args in (
        ("models", "-m", "pp_cli"),
        ("promote", "-m", "pp_cli"),
        ("train", "-m", "pp_cli"),
    ):
        code, text = cli(*args)
        assert code == 2, (args, text)
        assert SECRET not in text, args
        assert "cannot reach the MLflow tracking server at http://***@127.0.0.1:9" in " ".join(
            text.split()
        )
    code, text = cli("monitor", "run", "-m", "pp_cli", "--window-end", iso_day(30))
    assert code == 2 and SECRET not in text
    assert "cannot reach the MLflow tracking server" in " ".join(text.split())
    store = Store.from_settings(home)
    try:
        with store.engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                if table.startswith("dl_pred_"):
                    continue  # predictions: data only
                for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                    assert SECRET not in repr(tuple(row)), table
            errors = conn.execute(sa.text("SELECT error FROM dl_monitor_runs")).scalars().all()
        assert any(e and "cannot reach the MLflow tracking server" in e for e in errors)
    finally:
        store.dispose()
