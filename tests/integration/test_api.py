"""The Python API a serving app calls by model name (README, "Ingestion")."""

from __future__ import annotations

import pytest

from driftline.config.errors import DataError
from driftline.config.settings import Settings
from driftline.context import Context
from driftline.devtools.simulate import simulate
from driftline.sdk import forget_entity, log_labels, log_predictions


def test_log_by_model_name_then_forget(settings: Settings) -> None:
    sim = simulate("stable", days=1, rows_per_day=200, seed=4)
    preds, labels = sim.predictions, sim.labels
    assert log_predictions("purchase_propensity", preds, settings=settings).inserted == len(preds)
    assert log_predictions("purchase_propensity", preds, settings=settings).inserted == 0
    assert log_labels("purchase_propensity", labels, settings=settings).inserted == len(labels)
    customer = str(preds["customer_id"].iloc[0])
    n = int((preds["customer_id"] == customer).sum())
    erased = forget_entity("purchase_propensity", customer, settings=settings)
    assert (erased.predictions_deleted, erased.labels_deleted) == (n, n)
    with Context.open(settings) as ctx:
        summary = ctx.store.summarize(ctx.spec("purchase_propensity"))
    assert (summary.predictions, summary.labels) == (len(preds) - n, len(labels) - n)


def test_bad_batch_raises_data_error(settings: Settings) -> None:
    sim = simulate("stable", days=1, rows_per_day=50, seed=4)
    with pytest.raises(DataError, match="missing columns"):
        log_predictions(
            "purchase_propensity", sim.predictions.drop(columns=["score"]), settings=settings
        )
