"""A multiclass model's predictions and labels through ingestion and the store, on SQLite
and PostgreSQL: one probability column per class, the predicted class (derived when a
batch leaves it out), class names as labels; bad batches rejected whole, naming rows and
columns, with nothing written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftline.config.errors import DataError
from driftline.data.ingest import log_labels, log_predictions
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.devtools.simulate import simulate
from driftline.specs import ModelSpec, load_spec
from tests.conftest import SPECS_DIR

PSEUDO = Pseudonymizer(b"k" * 32)


@pytest.fixture(scope="module")
def sim_rows() -> tuple[pd.DataFrame, pd.DataFrame]:
    sim = simulate("stable", days=2, rows_per_day=40, seed=5)
    return sim.predictions, sim.next_category_labels


@pytest.fixture
def mc_spec() -> ModelSpec:
    return load_spec(SPECS_DIR / "next_category.yaml")


def _stored(store: Store, spec: ModelSpec) -> int:
    return store.summarize(spec).predictions


def test_round_trip_with_the_predicted_class_derived(
    store: Store, mc_spec: ModelSpec, sim_rows: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    predictions, labels = sim_rows
    batch = predictions.drop(columns=["predicted_category"])
    result = log_predictions(store, mc_spec, batch, PSEUDO)
    assert result.inserted == len(batch)
    log_labels(store, mc_spec, labels)
    window = store.read_predictions(mc_spec, with_labels=True)
    probabilities = [f"p_{c}" for c in mc_spec.model.task_options["classes"]]
    expected = np.asarray(mc_spec.model.task_options["classes"])[
        predictions[probabilities].to_numpy().argmax(axis=1)
    ]
    assert window["predicted_category"].tolist() == expected.tolist()
    classes = list(mc_spec.model.task_options["classes"])
    assert window["next_category"].tolist() == [
        float(classes.index(c)) for c in labels.next_category
    ]
    labelled = store.read_labelled(
        mc_spec,
        window.event_ts.min(),
        window.event_ts.max() + pd.Timedelta(seconds=1),
        as_of=pd.Timestamp("2030-01-01", tz="UTC"),
    )
    consenting = int(predictions["consent_analytics"].sum())
    assert set(probabilities) <= set(labelled.columns) and len(labelled) == consenting


def test_bad_batches_name_rows_and_columns_and_write_nothing(
    store: Store, mc_spec: ModelSpec, sim_rows: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    predictions, labels = sim_rows
    bad = predictions.head(10).copy()
    bad.loc[2, "p_home"] = bad.loc[2, "p_home"] + 0.2  # the row sums to 1.2
    bad.loc[4, "predicted_category"] = "garden"
    bad.loc[6, "p_toys"] = 1.5
    with pytest.raises(DataError) as err:
        log_predictions(store, mc_spec, bad, PSEUDO, source="batch.csv")
    message = str(err.value)
    assert "nothing was written" in message
    assert "p_fashion + p_electronics + p_home" in message and "do not sum to 1" in message
    assert "rows 3" in message and "rows 7" in message  # 1-based, header not counted
    assert "column 'predicted_category': 1 rows are not one of the classes" in message
    assert "column 'p_toys': 1 rows are outside [0, 1]" in message
    assert _stored(store, mc_spec) == 0

    with pytest.raises(DataError, match=r"missing columns \['p_beauty'\]"):
        log_predictions(store, mc_spec, predictions.drop(columns=["p_beauty"]), PSEUDO)
    assert _stored(store, mc_spec) == 0

    log_predictions(store, mc_spec, predictions, PSEUDO)
    wrong = labels.head(5).copy()
    wrong.loc[1, "next_category"] = "garden"
    with pytest.raises(DataError) as err:
        log_labels(store, mc_spec, wrong, source="labels.csv")
    assert "column 'next_category': 1 rows are not one of the classes" in str(err.value)
    assert "(rows 2)" in str(err.value)
    assert store.summarize(mc_spec).labels == 0
