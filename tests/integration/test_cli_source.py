"""Through the real entry point: commands that only look create nothing anywhere (a fresh
SQLite file, a fresh PostgreSQL schema), and a model monitored straight from the user's
own table (train, benchmark, promote, monitor, status) never writes to that database."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from driftline.devtools.simulate import Simulation, simulate
from tests.conftest import SPECS_DIR, Cli, cli_runner
from tests.integration.test_source import write_shop

ENV = "DL_TEST_SHOP_DB_URL"
LOOKING = [
    ("status",),
    ("monitor", "history", "-m", "purchase_propensity"),
    ("alerts", "list"),
    ("models", "-m", "purchase_propensity"),
]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """The CLI with a home that does not exist yet and the repository's specs."""
    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DRIFTLINE_SPECS_DIR", str(SPECS_DIR))
    monkeypatch.setenv("DRIFTLINE_PSEUDONYM_KEY", "k" * 32)
    monkeypatch.delenv("DRIFTLINE_DATABASE_URL", raising=False)
    monkeypatch.delenv("DRIFTLINE_MLFLOW_TRACKING_URI", raising=False)
    return cli_runner(monkeypatch, capsys)


def _tables(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("database", ["missing-file", "empty-file", "default-home"])
def test_looking_at_a_fresh_sqlite_store_creates_nothing(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str
) -> None:
    path = tmp_path / "db" / "driftline.db"
    if database == "default-home":
        path = tmp_path / "home" / "driftline.db"  # DRIFTLINE_DATABASE_URL unset
    else:
        monkeypatch.setenv("DRIFTLINE_DATABASE_URL", f"sqlite:///{path}")
    if database == "empty-file":
        path.parent.mkdir()
        sa.create_engine(f"sqlite:///{path}").connect().close()  # a database with no tables
    code, text = cli("status")
    assert code == 0, text
    assert "no driftline tables at sqlite:///" in _flat(text)
    assert "driftline db upgrade" in text and "Traceback" not in text
    for args in LOOKING[1:]:
        code, text = cli(*args)
        assert code == 2, (args, text)
        assert "error: no driftline tables at" in _flat(text) and "Traceback" not in text
    if database == "empty-file":
        assert _tables(f"sqlite:///{path}") == []
    else:
        assert not path.parent.exists()  # not even the folder (nor the home, nor MLflow's)
    assert not (tmp_path / "home").exists()


def test_looking_at_a_fresh_postgresql_schema_creates_nothing(
    cli: Cli, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTLINE_DATABASE_URL", pg_url)
    code, text = cli("status")
    assert code == 0, text
    assert "no driftline tables at postgresql+psycopg://" in _flat(text)
    for args in LOOKING[1:]:
        code, text = cli(*args)
        assert code == 2 and "no driftline tables at" in _flat(text), (args, text)
    assert _tables(pg_url) == []


def test_models_on_a_store_without_a_registry_creates_no_registry(cli: Cli, tmp_path: Path) -> None:
    code, text = cli("db", "upgrade")
    assert code == 0, text
    code, text = cli("models", "-m", "purchase_propensity")
    assert code == 0, text
    assert "purchase_propensity has no registered versions yet" in text
    assert not (tmp_path / "home" / "mlflow.db").exists()
    assert not (tmp_path / "home" / "mlartifacts").exists()


# -- a model monitored from the user's own table -----------------------------------------


@pytest.fixture(scope="module")
def shop_sim() -> Simulation:
    return simulate("stable", days=24, rows_per_day=500, seed=21)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_model_monitored_from_its_own_table(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shop_sim: Simulation
) -> None:
    shop = tmp_path / "shop.db"
    # The serving app logs the version that scored each row: v1, which driftline trains
    # and promotes below (unversioned rows from before the first promotion are never judged).
    write_shop(f"sqlite:///{shop}", shop_sim, version="1")
    specs = tmp_path / "monitors"
    specs.mkdir()
    data = yaml.safe_load((SPECS_DIR / "purchase_propensity.yaml").read_text())
    data["model"]["name"] = "shop_scores"
    data["source"] = {
        "url_env": ENV,
        "table": "scores",
        "labels": {"table": "outcomes", "labelled_at": "known_at"},
    }
    data["monitoring"]["prediction_drift"] = {"enabled": False}  # scores come from the simulator
    data["monitoring"]["min_rows"] = 300  # 500 visitors a day, some without consent
    (specs / "shop_scores.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("DRIFTLINE_SPECS_DIR", str(specs))
    monkeypatch.setenv(ENV, f"sqlite:///{shop}")
    before = _digest(shop)

    code, text = cli("status")  # nothing of driftline's exists yet: the source is readable
    assert code == 0, text
    assert "shop_scores" in text and f"table scores (${ENV})" in text
    assert f"{len(shop_sim.predictions):,}" in text

    start = pd.Timestamp(shop_sim.timeline["start"])
    as_of = (start + pd.Timedelta(days=24)).isoformat()
    for args in (("train",), ("benchmark",), ("promote",)):
        code, text = cli(*args, "-m", "shop_scores", "--as-of", as_of)
        assert code == 0, (args, text)
        if args == ("benchmark",):  # the pictures are logged with the benchmark run
            assert "pictures (roc, pr, calibration" in text and "under figures/" in text
            shown = " ".join(text.split()).split("on disk in ")[1].split()[0]
            assert (Path(shown) / "roc.png").is_file()  # a folder people can open
    code, text = cli("monitor", "run", "-m", "shop_scores", "--window-end", as_of)
    assert code == 0, text
    assert "against champion v1" in text and "realized roc_auc" in text
    code, text = cli("monitor", "history", "-m", "shop_scores")
    assert code == 0 and "2026-" in text

    assert _digest(shop) == before  # the user's database is untouched
    home_tables = _tables(f"sqlite:///{tmp_path / 'home' / 'driftline.db'}")
    assert "dl_monitor_runs" in home_tables and "dl_pred_shop_scores" not in home_tables

    monkeypatch.delenv(ENV)
    code, text = cli("status")  # an unreadable source is reported, not a traceback
    assert code == 0 and f"names the environment variable {ENV}" in _flat(text)
    code, text = cli("ingest", "predictions", str(tmp_path / "x.csv"), "-m", "shop_scores")
    assert code == 2


def test_db_upgrade_says_which_migrations_it_applied(cli: Cli, tmp_path: Path) -> None:
    """`db upgrade` on a new store says it creates the tables and names every migration;
    on a store one migration behind it says it is migrating and names what it applied;
    run again, it only says the store is up to date."""
    code, text = cli("db", "upgrade")
    assert code == 0 and "creating the store's tables" in text, text
    assert "applied 0001" in text and "applied 0008_entity_hash_index" in text
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'home' / 'driftline.db'}")
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM alembic_version WHERE version_num = '0008_entity_hash_index'")
        )
    engine.dispose()
    code, text = cli("db", "upgrade")
    assert code == 0, text
    assert "migrating the store" in text
    assert "applied 0008_entity_hash_index: PostgreSQL: each inference log's entity_key" in text
    code, text = cli("db", "upgrade")
    assert code == 0 and "applied" not in text and "store is up to date" in text
