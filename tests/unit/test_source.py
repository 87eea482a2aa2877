"""data.source on small SQLite files: which source a spec gets, how values from a user's
table are typed, optional columns, and the guards that keep driftline from writing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from driftline.config.errors import DataError
from driftline.data.source import (
    StoreSource,
    TableSource,
    open_source,
    optional_columns,
    require_stored,
)
from driftline.data.store import Store
from driftline.specs import ModelSpec, parse_spec

ENV = "DL_UNIT_SOURCE_URL"
DAY_START = datetime(2026, 10, 2, tzinfo=UTC)
DAY_END = datetime(2026, 10, 3, tzinfo=UTC)


def _sourced(spec: ModelSpec, **source: object) -> ModelSpec:
    data = spec.model_dump(mode="json")
    data["source"] = {"url_env": ENV, "table": "scores", **source}
    return parse_spec(data)


def _row(spec: ModelSpec, request_id: str, **values: object) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(spec.model.features.numerical, 1)
    row.update(dict.fromkeys(spec.model.features.categorical, "x"))
    row.update(
        request_id=request_id,
        customer_id="c1",
        event_ts="2026-10-02 10:00:00",
        score=0.25,
        consent_analytics=1,
    )
    row.update(values)
    return row


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    monkeypatch.setenv(ENV, url)
    return url


def _write(url: str, rows: list[dict[str, object]], **dtypes: str) -> None:
    frame = pd.DataFrame(rows).astype(dtypes)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        frame.to_sql("scores", conn, index=False, if_exists="replace")
    engine.dispose()


def _read(store: Store, spec: ModelSpec, **kwargs: bool) -> pd.DataFrame:
    with open_source(store, spec) as reader:
        assert isinstance(reader, TableSource)
        return reader.read_predictions(spec, DAY_START, DAY_END, **kwargs)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'driftline.db'}")


def test_a_spec_without_source_reads_the_store(store: Store, spec: ModelSpec) -> None:
    with open_source(store, spec) as reader:
        assert isinstance(reader, StoreSource) and reader.store is store
        assert "driftline ingest predictions" in reader.empty_message(spec)


def test_values_are_typed_as_the_store_types_them(shop: str, store: Store, spec: ModelSpec) -> None:
    """Integers of a categorical column become text, integers of a numerical one floats,
    SQLite's 0/1 consent a boolean; the raw entity id never leaves the reader."""
    _write(
        shop,
        [
            _row(spec, "r1", device=3, recency_days=2, consent_analytics=1),
            _row(spec, "r2", device=None, recency_days=None, consent_analytics=0),
        ],
        device="Int64",  # an INTEGER column with a NULL
    )
    frame = _read(store, _sourced(spec))
    assert list(frame["request_id"]) == ["r1", "r2"]
    assert list(frame["device"]) == ["3", None]
    assert frame["recency_days"].dtype == "float64" and frame["recency_days"].isna().iloc[1]
    assert list(frame["consent_analytics"]) == [True, False]
    assert "customer_id" not in frame.columns
    assert frame["entity_key"].iloc[0] == frame["entity_key"].iloc[1] != "c1"
    assert list(_read(store, _sourced(spec), consented_only=True)["request_id"]) == ["r1"]


def test_a_value_of_the_wrong_kind_names_the_column(
    shop: str, store: Store, spec: ModelSpec
) -> None:
    _write(shop, [_row(spec, "r1", recency_days="lots")])
    with pytest.raises(DataError, match=r"numerical feature recency_days .*'lots'"):
        _read(store, _sourced(spec))
    _write(shop, [_row(spec, "r1", event_ts="yesterday")])  # outside any window in SQL
    assert _read(store, _sourced(spec)).empty
    _write(shop, [_row(spec, "r1", consent_analytics="maybe")])
    with pytest.raises(DataError, match="consent column consent_analytics must be boolean"):
        _read(store, _sourced(spec))


def test_optional_columns_are_read_when_the_table_has_them(
    shop: str, store: Store, spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A column a spec may map but a table may lack (the model version) is read when
    present, and None on every row otherwise."""
    assert optional_columns(spec) == ["model_version"]  # model.model_version
    _write(shop, [_row(spec, "r1")])
    assert _read(store, _sourced(spec))["model_version"].tolist() == [None]
    _write(shop, [_row(spec, "r1", model_version=7)])
    assert list(_read(store, _sourced(spec))["model_version"]) == ["7"]


def test_labels_in_the_predictions_count_once_known(
    shop: str, store: Store, spec: ModelSpec
) -> None:
    """Without a label-time column a label counts as known label_delay_days after its
    prediction; with one, from that time."""
    _write(
        shop,
        [
            _row(spec, "r1", purchased_7d=1, known="2026-10-05 00:00:00"),
            _row(spec, "r2", purchased_7d=0, known="2026-10-20 00:00:00"),
            _row(spec, "r3", purchased_7d=None, known=None),
        ],
    )
    by_delay = _sourced(spec, labels={"in_predictions": True})
    by_column = _sourced(spec, labels={"in_predictions": True, "labelled_at": "known"})
    with open_source(store, by_delay) as reader:
        assert reader.read_labelled(by_delay, DAY_START, DAY_END, as_of=DAY_END).empty
        late = datetime(2026, 10, 9, 10, tzinfo=UTC)  # 7 days after the predictions
        assert len(reader.read_labelled(by_delay, DAY_START, DAY_END, as_of=late)) == 2
        full = reader.read_predictions(by_delay, DAY_START, DAY_END, with_labels=True)
        assert full["purchased_7d"].isna().tolist() == [False, False, True]
    with open_source(store, by_column) as reader:
        got = reader.read_labelled(by_column, DAY_START, DAY_END, as_of=datetime(2026, 10, 6))
        assert got[["score", "purchased_7d"]].to_dict("list") == {
            "score": [0.25],
            "purchased_7d": [1.0],
        }
        assert got["model_version"].tolist() == [None]  # the table logs no version
        summary = reader.summarize(by_column)
        assert (summary.predictions, summary.labels, summary.consenting) == (3, 2, 3)


def test_driftline_keeps_no_copy_of_a_source(spec: ModelSpec) -> None:
    require_stored(spec, "predictions", "ingest predictions")  # the store's own model
    own_labels = _sourced(spec)
    require_stored(own_labels, "labels", "ingest labels")  # labels stay in driftline's store
    with pytest.raises(DataError, match="cannot ingest predictions: do it in that database"):
        require_stored(own_labels, "predictions", "ingest predictions")
    with pytest.raises(DataError, match=r"reads its labels from table scores \(\$"):
        require_stored(_sourced(spec, labels={"table": "l"}), "labels", "ingest labels")
