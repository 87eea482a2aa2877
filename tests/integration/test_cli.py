"""The CLI end to end, in-process through the real entry point (exit codes included)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from driftline.data.privacy import Pseudonymizer

from ..conftest import SPECS_DIR, cli_runner

KEY = "cli-test-key-0123456789"


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DRIFTLINE_HOME", str(home))
    monkeypatch.setenv("DRIFTLINE_SPECS_DIR", str(SPECS_DIR))
    monkeypatch.setenv("DRIFTLINE_PSEUDONYM_KEY", KEY)
    return cli_runner(monkeypatch, capsys)


def test_simulate_ingest_twice_forget(cli, tmp_path: Path, home: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "sim"
    code, text = cli(
        "simulate", "--out", str(out), "--days", "2", "--rows-per-day", "200", "--format", "csv"
    )
    assert code == 0, text
    assert json.loads((out / "timeline.json").read_text())["scenario"] == "stable"
    preds = pd.read_csv(out / "predictions.csv")

    code, text = cli(
        "ingest", "predictions", str(out / "predictions.csv"), "-m", "purchase_propensity"
    )
    assert code == 0, text
    assert f"{len(preds):,} stored" in text
    code, text = cli(
        "ingest", "predictions", str(out / "predictions.csv"), "-m", "purchase_propensity"
    )
    assert code == 0 and "0 stored" in text and f"{len(preds):,} already stored" in text
    code, text = cli("ingest", "labels", str(out / "labels.csv"), "-m", "purchase_propensity")
    assert code == 0 and f"{len(preds):,} stored" in text

    code, text = cli("status")
    assert code == 0 and "purchase_propensity" in text

    customer = str(preds["customer_id"].value_counts().index[0])
    n = int((preds["customer_id"] == customer).sum())
    code, text = cli("privacy", "forget", "-m", "purchase_propensity", "--entity", customer)
    assert code == 0 and f"erased {n} predictions and {n} labels" in text
    engine = sa.create_engine(f"sqlite:///{home / 'driftline.db'}")
    with engine.connect() as conn:
        left = conn.execute(
            sa.text("SELECT COUNT(*) FROM dl_pred_purchase_propensity WHERE entity_key = :k"),
            {"k": Pseudonymizer(KEY.encode()).pseudonymise(customer)},
        ).scalar_one()
    engine.dispose()
    assert left == 0


def test_bad_file_exits_2_with_message(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.csv"
    bad.write_text("request_id,customer_id\nr1,c1\n")
    code, text = cli("ingest", "predictions", str(bad), "-m", "purchase_propensity")
    assert code == 2
    assert "batch rejected, nothing was written" in text and "missing columns" in text


def test_unknown_model_and_file_type(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "x.json"
    data.write_text("{}")
    code, text = cli("ingest", "predictions", str(data), "-m", "purchase_propensity")
    assert code == 2 and "unsupported file type '.json'" in text
    code, text = cli("privacy", "forget", "-m", "churn", "--entity", "c1")
    assert code == 2 and "no spec for model 'churn'" in text


def test_parquet_ingest(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "sim"
    assert cli("simulate", "--out", str(out), "--days", "1", "--rows-per-day", "100")[0] == 0
    code, text = cli(
        "ingest", "predictions", str(out / "predictions.parquet"), "-m", "purchase_propensity"
    )
    assert code == 0, text
    assert "0 already stored" in text
