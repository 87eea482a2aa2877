"""Item 7: ingestion stores exactly what was sent, or refuses naming the column and rows;
one rule for CSV, Parquet and frames, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from driftline.config.errors import DataError
from driftline.data.files import read_table
from driftline.data.ingest import log_labels, log_predictions
from driftline.data.store import Store
from tests.robustness.conftest import PSEUDO, batch, make_spec, write

FORMATS = ["csv", "parquet", "frame"]


def _as(frame: pd.DataFrame, fmt: str, tmp_path: Path) -> pd.DataFrame:
    return frame if fmt == "frame" else read_table(write(frame, tmp_path / f"b.{fmt}"))


def _refused(store: Store, frame: pd.DataFrame, *fragments: str) -> None:
    spec = make_spec()
    with pytest.raises(DataError) as err:
        log_predictions(store, spec, frame, PSEUDO, source="b")
    assert "batch rejected, nothing was written" in str(err.value)
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)
    assert store.newest_prediction(spec) is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_markers_in_categories_are_text(store: Store, tmp_path: Path, fmt: str) -> None:
    spec = make_spec()
    markers = ["NA", "None", "null", "N/A"]
    log_predictions(store, spec, _as(batch(4, channel=markers), fmt, tmp_path), PSEUDO)
    assert sorted(store.read_predictions(spec)["channel"]) == sorted(markers)


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_markers_in_numbers_are_missing(store: Store, tmp_path: Path, fmt: str) -> None:
    spec = make_spec()
    frame = batch(4, visits=pd.Series(["1", "NA", "null", ""], dtype=object))
    log_predictions(store, spec, _as(frame, fmt, tmp_path), PSEUDO)
    visits = store.read_predictions(spec).sort_values("request_id")["visits"]
    assert visits.isna().tolist() == [False, True, True, True]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("column", ["channel", "request_id", "customer_id"])
def test_a_nul_byte_is_refused_by_column_and_row(
    store: Store, tmp_path: Path, fmt: str, column: str
) -> None:
    frame = batch(4)
    frame.loc[2, column] = "a\x00b"
    _refused(store, _as(frame, fmt, tmp_path), f"'{column}': 1 rows contain a NUL byte", "(rows 3)")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("padded", ["  rid-2  ", " rid-2", "rid-2\t"])
def test_a_padded_id_is_refused_not_stripped(
    store: Store, tmp_path: Path, fmt: str, padded: str
) -> None:
    """The issue's example: "  rid-2  " was stripped, collided with rid-2 and was dropped."""
    frame = batch(4)
    frame.loc[3, "request_id"] = padded
    frame.loc[2, "request_id"] = "rid-2"
    _refused(
        store,
        _as(frame, fmt, tmp_path),
        "'request_id': 1 rows have spaces before or after the id",
        "(rows 4)",
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_request_id_repeated_with_other_values_is_refused(
    store: Store, tmp_path: Path, fmt: str
) -> None:
    frame = batch(4)
    frame.loc[3, "request_id"] = "rid-1"  # same id as row 2, other score and features
    _refused(
        store,
        _as(frame, fmt, tmp_path),
        "'request_id': 2 rows repeat request ids ('rid-1') with different values (rows 2, 4)",
    )


def test_exact_repeats_are_stored_once_and_counted(store: Store) -> None:
    spec = make_spec()
    frame = batch(4)
    result = log_predictions(store, spec, pd.concat([frame, frame.iloc[[1]]]), PSEUDO)
    assert (result.inserted, result.duplicates_in_batch) == (4, 1)


def test_a_stored_request_sent_again_with_other_values_is_refused(store: Store) -> None:
    spec = make_spec()
    log_predictions(store, spec, batch(4), PSEUDO)
    again = batch(4)
    assert log_predictions(store, spec, again, PSEUDO).already_stored == 4  # same values
    again.loc[1, "score"] = 0.99
    with pytest.raises(
        DataError,
        match=r"'request_id': 1 rows repeat request ids stored already with other values "
        r"of 'score' \('rid-1'\).*\(rows 2\)",
    ):
        log_predictions(store, spec, again, PSEUDO)
    assert store.read_predictions(spec).set_index("request_id").loc["rid-1", "score"] != 0.99
    # the same rows said to come from a model version they were not stored with
    with pytest.raises(DataError, match=r"other values of the model version \(--model-version"):
        log_predictions(store, spec, batch(4), PSEUDO, model_version=1)


def test_two_labels_of_one_request_are_refused(store: Store) -> None:
    spec = make_spec()
    both = pd.DataFrame({"request_id": ["a", "b", "a"], "bought": [1, 0, 0]})
    with pytest.raises(
        DataError, match=r"2 rows repeat request ids \('a'\) with different values \(rows 1, 3\)"
    ):
        log_labels(store, spec, both)
    log_labels(store, spec, both.iloc[:2])
    with pytest.raises(DataError, match="stored already with other values"):
        log_labels(store, spec, pd.DataFrame({"request_id": ["a"], "bought": [0]}))
    assert log_labels(store, spec, both.iloc[:1]).already_stored == 1


@pytest.mark.parametrize("fmt", ["csv", "parquet", "frame"])
@pytest.mark.parametrize("epoch", [1_790_000_000, 1_790_000_000_000, 1.79e9])
def test_numbers_in_a_time_column_are_refused(
    store: Store, tmp_path: Path, fmt: str, epoch: float
) -> None:
    """The issue's example: epoch seconds were read as nanoseconds and stored as 1970."""
    frame = batch(4)
    frame["event_ts"] = [epoch + i for i in range(4)]
    _refused(store, _as(frame, fmt, tmp_path), "'event_ts': 4 rows are numbers, not timestamps")
