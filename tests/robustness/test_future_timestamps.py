"""Item 8: a row dated beyond ``model.future_tolerance`` after the time of ingestion is
refused naming it, and no row, wherever it came from, moves the data clock."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from driftline.config.errors import DataError, SpecError
from driftline.data.files import read_table
from driftline.data.ingest import log_labels, log_predictions, prepare_predictions
from driftline.data.store import Store, prediction_types
from driftline.data.windows import data_clock, plan_windows
from driftline.specs import ModelSpec
from tests.robustness.conftest import PSEUDO, SPEC, batch, make_spec, write

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "frame"])
def test_a_prediction_from_2100_is_refused(store: Store, tmp_path: Path, fmt: str) -> None:
    """The issue's example."""
    frame = batch(4)
    frame["event_ts"] = frame["event_ts"].astype(object)
    frame.loc[2, "event_ts"] = pd.Timestamp("2100-01-01", tz="UTC")
    if fmt != "frame":
        frame = read_table(write(frame, tmp_path / f"b.{fmt}"))
    spec = make_spec()
    with pytest.raises(DataError) as err:
        log_predictions(store, spec, frame, PSEUDO)
    assert "'event_ts': 1 rows are dated after" in str(err.value)
    assert "model.future_tolerance" in str(err.value) and "(rows 3)" in str(err.value)
    assert store.newest_prediction(spec) is None


@pytest.mark.parametrize(
    ("tolerance", "ahead", "accepted"),
    [
        ("1h", timedelta(minutes=30), True),
        ("1h", timedelta(minutes=61), False),
        ("0m", timedelta(seconds=1), False),
        ("2d", timedelta(days=1), True),
    ],
)
def test_the_tolerance_is_a_spec_setting(tolerance: str, ahead: timedelta, accepted: bool) -> None:
    spec = make_spec(future_tolerance=tolerance)
    frame = batch(2, event_ts=[pd.Timestamp(NOW), pd.Timestamp(NOW + ahead)])
    if accepted:
        assert len(prepare_predictions(spec, frame, "b", now=NOW)) == 2
    else:
        with pytest.raises(DataError, match=r"1 rows are dated after .*\(rows 2\)"):
            prepare_predictions(spec, frame, "b", now=NOW)


def test_a_negative_tolerance_is_a_spec_error() -> None:
    with pytest.raises((SpecError, ValueError), match="must not be negative"):
        ModelSpec.model_validate({"model": {**SPEC["model"], "future_tolerance": "-P1D"}})


def test_labels_known_in_the_future_are_refused(store: Store) -> None:
    labels = pd.DataFrame(
        {"request_id": ["a", "b"], "bought": [1, 0], "labelled_at": ["2026-10-01", "2100-01-01"]}
    )
    with pytest.raises(DataError, match=r"'labelled_at': 1 rows are dated after .*\(rows 2\)"):
        log_labels(store, make_spec(), labels)


def test_a_future_row_already_in_the_store_does_not_move_the_clock(store: Store) -> None:
    """A row stored before ingestion checked times (written here past the checks)."""
    spec = make_spec()
    log_predictions(store, spec, batch(4), PSEUDO)  # 2026-10-01 00:00 to 03:00
    future = prepare_predictions(spec, batch(1, request_id=["late"]), "b")
    future["ts_us"] = int(pd.Timestamp("2100-01-01", tz="UTC").value // 1000)
    future["entity_key"] = PSEUDO.pseudonymise_series(future["entity_key"])
    store.insert_ignore(
        store.predictions_table_name(spec), future, ["request_id"], prediction_types(spec)
    )
    clock = data_clock(store, spec, now=NOW)
    assert clock == pd.Timestamp("2026-10-01 03:00:01", tz="UTC")
    assert plan_windows(spec, clock).holdout_end < pd.Timestamp("2026-10-01", tz="UTC")


def test_a_source_table_row_from_the_future_does_not_move_the_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    path = tmp_path / "shop.db"
    rows = [
        ("r1", "c1", "2026-10-01 06:00:00", 0.2, 1, 1.0, "1", "web"),
        ("r2", "c2", "2026-10-02 06:00:00", 0.3, 1, 2.0, "2", "app"),
        ("r3", "c3", "2100-01-01 00:00:00", 0.4, 1, 3.0, "3", "web"),
    ]
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE preds (request_id TEXT, customer_id TEXT, event_ts TEXT, score REAL, "
            "opted_in INTEGER, visits REAL, store TEXT, channel TEXT)"
        )
        conn.executemany("INSERT INTO preds VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    monkeypatch.setenv("SHOP_DB", f"sqlite:///{path}")
    spec = ModelSpec.model_validate({**SPEC, "source": {"url_env": "SHOP_DB", "table": "preds"}})
    store = Store(f"sqlite:///{home / 'driftline.db'}")
    try:
        assert data_clock(store, spec, now=NOW) == pd.Timestamp("2026-10-02 06:00:01", tz="UTC")
        with pytest.raises(DataError, match=r"every prediction .* is dated after"):
            data_clock(store, spec, now=datetime(2026, 9, 1, tzinfo=UTC))
    finally:
        store.dispose()
