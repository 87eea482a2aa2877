"""The simulator's promises: reproducible, and each scenario's drift is really there
(and absent in `stable`), checked with plain two-sample tests on known columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from driftline.devtools.simulate import CATEGORICAL, NUMERICAL, SCENARIOS, Simulation, simulate

DAYS, ROWS = 20, 3000


def _split(sim: Simulation, kind: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows before the (first) event, and rows inside it (its last day when it ramps)."""
    preds = sim.predictions
    day = (preds["event_ts"] - pd.Timestamp(sim.timeline["start"])).dt.days
    if kind is None:
        return preds[day < DAYS // 2], preds[day >= DAYS // 2]
    event = next(e for e in sim.timeline["events"] if e["kind"] == kind)
    last = event["end_day"] - 1
    return preds[day < event["start_day"]], preds[day == last]


def _differs(before: pd.Series, after: pd.Series) -> float:
    """p-value that the two samples share a distribution (KS or chi-square)."""
    if before.name in CATEGORICAL:
        table = pd.crosstab(
            np.r_[np.zeros(len(before)), np.ones(len(after))],
            np.r_[before.astype(str), after.astype(str)],
        )
        return float(stats.chi2_contingency(table)[1])
    b, a = before.dropna(), after.dropna()
    if a.empty or b.empty or a.nunique() == 1:
        return 0.0  # a column gone null or constant differs by construction
    return float(stats.ks_2samp(b, a).pvalue)


@pytest.fixture(scope="module")
def sims() -> dict[str, Simulation]:
    return {s: simulate(s, days=DAYS, rows_per_day=ROWS, seed=3) for s in SCENARIOS}


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    a = simulate("flash_sale", days=4, rows_per_day=500, seed=11)
    b = simulate("flash_sale", days=4, rows_per_day=500, seed=11)
    c = simulate("flash_sale", days=4, rows_per_day=500, seed=12)
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    pd.testing.assert_frame_equal(a.labels, b.labels)
    assert a.timeline == b.timeline
    assert not a.predictions["score"].equals(c.predictions["score"])


def test_shape_and_late_labels(sims: dict[str, Simulation]) -> None:
    sim = sims["stable"]
    preds, labels = sim.predictions, sim.labels
    assert set(NUMERICAL + CATEGORICAL) <= set(preds.columns)
    assert preds["request_id"].is_unique
    assert preds["score"].between(0, 1).all()
    assert set(labels["purchased_7d"].unique()) == {0, 1}
    assert 0.05 < labels["purchased_7d"].mean() < 0.6
    assert (labels["labelled_at"] - preds["event_ts"] == pd.Timedelta(days=7)).all()
    assert 0.85 < preds["consent_analytics"].mean() < 0.98
    # returning customers come back: fewer distinct ids than rows
    assert preds["customer_id"].nunique() < len(preds)
    halfway = pd.Timestamp(sim.timeline["start"]) + pd.Timedelta(days=DAYS)
    assert 0 < len(sim.labels_known_by(halfway)) < len(labels)


def test_churn_model_scores_and_late_labels(sims: dict[str, Simulation]) -> None:
    sim = sims["stable"]
    churn = sim.churn_labels
    assert list(churn["request_id"]) == list(sim.predictions["request_id"])
    assert 0.05 < churn["churned_30d"].mean() < 0.5
    assert (churn["labelled_at"] - sim.predictions["event_ts"] == pd.Timedelta(days=30)).all()
    assert roc_auc_score(churn["churned_30d"], sim.predictions["churn_score"]) > 0.55
    first_day = pd.Timestamp(sim.timeline["start"]) + pd.Timedelta(days=8)
    assert (
        len(sim.labels_known_by(first_day)) > 0 and len(sim.churn_labels_known_by(first_day)) == 0
    )


def test_stable_has_no_drift(sims: dict[str, Simulation]) -> None:
    before, after = _split(sims["stable"])
    pvalues = {c: _differs(before[c], after[c]) for c in NUMERICAL + CATEGORICAL}
    assert min(pvalues.values()) > 1e-3, pvalues


@pytest.mark.parametrize(
    "scenario", ["flash_sale", "channel_shift", "mobile_shift", "pipeline_bug"]
)
def test_input_drift_is_present_in_the_named_columns(
    sims: dict[str, Simulation], scenario: str
) -> None:
    sim = sims[scenario]
    event = sim.timeline["events"][0]
    assert event["columns"], "an input-drift scenario names its columns"
    before, during = _split(sim, scenario)
    for column in event["columns"]:
        assert _differs(before[column], during[column]) < 1e-6, column


def test_flash_sale_surges_traffic(sims: dict[str, Simulation]) -> None:
    before, during = _split(sims["flash_sale"], "flash_sale")
    days_before = before["event_ts"].dt.floor("D").nunique()
    assert len(during) > 2 * len(before) / days_before


def test_pipeline_bug_nulls_and_constant(sims: dict[str, Simulation]) -> None:
    _, during = _split(sims["pipeline_bug"], "pipeline_bug")
    assert during["avg_order_value"].isna().all()
    assert (during["pages_per_session"] == 0).all()


def test_concept_drift_moves_labels_not_inputs(sims: dict[str, Simulation]) -> None:
    sim = sims["concept_drift"]
    before, after = _split(sim, "concept_drift")
    shifted = [c for c in NUMERICAL + CATEGORICAL if _differs(before[c], after[c]) < 1e-3]
    assert shifted == []
    labels = sim.labels.set_index("request_id")["purchased_7d"]
    auc_before = roc_auc_score(labels[before["request_id"]], before["score"])
    auc_after = roc_auc_score(labels[after["request_id"]], after["score"])
    assert auc_before - auc_after > 0.1, (auc_before, auc_after)


def test_timeline_describes_events() -> None:
    sim = simulate("demo", days=30, rows_per_day=100)
    kinds = [e["kind"] for e in sim.timeline["events"]]
    assert kinds == ["channel_shift", "concept_drift"]
    assert sim.timeline["events"][0]["start"] < sim.timeline["events"][1]["start"]


def test_unknown_scenario() -> None:
    with pytest.raises(ValueError, match="unknown scenario 'black_friday'"):
        simulate("black_friday", days=2, rows_per_day=10)


def test_customer_ltv_is_seeded_zero_inflated_heavy_tailed_and_labelled_a_year_later() -> None:
    from driftline.devtools.simulate import LTV_HORIZON, simulate_customer_ltv

    sim = simulate_customer_ltv("flash_sale", days=8, rows_per_day=400, seed=2, history_days=7)
    again = simulate_customer_ltv("flash_sale", days=8, rows_per_day=400, seed=2, history_days=7)
    pd.testing.assert_frame_equal(sim.predictions, again.predictions)
    assert sim.predictions["request_id"].is_unique
    assert sim.predictions["event_ts"].min() < pd.Timestamp("2026-09-01", tz="UTC")
    value = sim.labels["value_12m"]
    assert 0.1 < (value == 0).mean() < 0.6  # many customers never come back
    assert value.max() > 10 * value[value > 0].median()  # a heavy tail
    assert (sim.labels["labelled_at"] - sim.predictions["event_ts"] == LTV_HORIZON).all()
    assert (sim.predictions["ltv_score"] > 0).all()
    assert sim.timeline["label_delay_days"] == 365
    # The sale brings discount hunters in the days it runs.
    day = (sim.predictions["event_ts"] - pd.Timestamp("2026-09-01", tz="UTC")).dt.days
    sale = sim.predictions.loc[day.between(4, 6), "discount_share"].mean()
    assert sale > sim.predictions.loc[day < 0, "discount_share"].mean() + 0.2
