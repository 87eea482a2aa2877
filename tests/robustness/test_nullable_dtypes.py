"""Item 6: pandas' nullable dtypes (``Int64``, ``Float64``, ``boolean``, ``string``,
``category``) behave exactly like their CSV equivalents in every column role: the same
rows stored, or the same refusal naming the same rows; never a crash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.config.errors import DataError
from driftline.data.files import read_table
from driftline.data.ingest import log_labels, log_predictions
from driftline.data.store import Store
from tests.robustness.conftest import PSEUDO, batch, make_spec, write

VARIANTS = {
    "request_id as string": {"request_id": pd.array(["a", "b", "c", "d"], dtype="string")},
    "customer_id as category": {"customer_id": pd.Categorical(["x", "y", "x", "z"])},
    "score as Float64": {"score": pd.array([0.1, 0.2, 0.3, 0.4], dtype="Float64")},
    "consent as boolean": {"opted_in": pd.array([True, False, True, True], dtype="boolean")},
    "visits as Int64 with a blank": {"visits": pd.array([1, None, 3, 4], dtype="Int64")},
    "visits as Float64 with a blank": {"visits": pd.array([1.5, None, 3, 4], dtype="Float64")},
    "visits as string": {"visits": pd.array(["1", None, "3", "4"], dtype="string")},
    "store as Int64 with a blank": {"store": pd.array([1, None, 3, 1], dtype="Int64")},
    "store as category": {"store": pd.Categorical([1, 2, None, 1])},
    "channel as string": {"channel": pd.array(["web", None, "app", "NA"], dtype="string")},
    "model_version as Int64": {"model_version": pd.array([None, None, None, None], dtype="Int64")},
}


def _stored(store: Store, spec_name: str) -> pd.DataFrame:
    frame = store.read_predictions(make_spec(name=spec_name))
    return frame.sort_values("request_id").reset_index(drop=True)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_nullable_dtypes_store_what_their_csv_stores(
    store: Store, tmp_path: Path, variant: str
) -> None:
    frame = batch(4, **VARIANTS[variant])
    csv = read_table(write(frame, tmp_path / "b.csv"))
    log_predictions(store, make_spec(name="as_csv"), csv, PSEUDO)
    log_predictions(
        store,
        make_spec(name="as_parquet"),
        read_table(write(frame, tmp_path / "b.parquet")),
        PSEUDO,
    )
    log_predictions(store, make_spec(name="as_frame"), frame, PSEUDO)
    expected = _stored(store, "as_csv")
    pd.testing.assert_frame_equal(_stored(store, "as_parquet"), expected)
    pd.testing.assert_frame_equal(_stored(store, "as_frame"), expected)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "frame"])
def test_a_missing_consent_is_refused_naming_the_row(
    store: Store, tmp_path: Path, fmt: str
) -> None:
    """The issue's example: ``boolean`` with one missing value crashed ingestion."""
    frame = batch(4, opted_in=pd.array([True, None, False, True], dtype="boolean"))
    if fmt != "frame":
        frame = read_table(write(frame, tmp_path / f"b.{fmt}"))
    with pytest.raises(DataError, match=r"'opted_in': 1 rows are not true/false \(rows 2\)"):
        log_predictions(store, make_spec(), frame, PSEUDO)


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        (
            "request_id",
            pd.array(["a", None, "c", "d"], dtype="string"),
            "'request_id': 1 rows are empty (rows 2)",
        ),
        (
            "event_ts",
            pd.array([pd.Timestamp("2026-10-01"), pd.NaT] * 2),
            "'event_ts': 2 rows are empty (rows 2, 4)",
        ),
        ("score", pd.array([0.1, None, 0.3, 0.4], dtype="Float64"), None),
        (
            "visits",
            pd.Categorical(["1", "x", "2", "3"]),
            "'visits': 1 rows are not numbers (rows 2)",
        ),
    ],
)
@pytest.mark.parametrize("fmt", ["csv", "parquet", "frame"])
def test_nullable_values_at_fault_are_named_alike(
    store: Store, tmp_path: Path, fmt: str, column: str, values: object, message: str | None
) -> None:
    frame = batch(4, **{column: values})
    if fmt != "frame":
        frame = read_table(write(frame, tmp_path / f"b.{fmt}"))
    if message is None:  # a row without a score and without a version is allowed
        assert log_predictions(store, make_spec(), frame, PSEUDO).inserted == 4
        return
    with pytest.raises(DataError) as err:
        log_predictions(store, make_spec(), frame, PSEUDO)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "labels",
    [
        pd.array([1, 0, None], dtype="Int64"),
        pd.array([True, False, None], dtype="boolean"),
        pd.array([1.0, 0.0, np.nan], dtype="Float64"),
    ],
)
def test_nullable_labels(store: Store, labels: object) -> None:
    frame = pd.DataFrame({"request_id": ["a", "b", "c"], "bought": labels})
    with pytest.raises(DataError, match=r"'bought'.*\(rows 3\)"):
        log_labels(store, make_spec(), frame)
    assert log_labels(store, make_spec(), frame.iloc[:2]).inserted == 2
