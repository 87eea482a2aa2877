"""Locating a change in a daily series (driftline.monitoring.changepoint), on the
simulator's concept drift: the scoring rule learned the old behaviour, so its daily
realized ROC AUC falls on the change day."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from driftline.devtools.simulate import simulate
from driftline.monitoring.changepoint import daily_metric, locate_change


def _daily_auc(change_day: int, days: int) -> pd.Series:
    sim = simulate("concept_drift", days=days, rows_per_day=1500, seed=2, change_day=change_day)
    rows = sim.predictions.merge(sim.labels[["request_id", "purchased_7d"]], on="request_id")

    def auc(day: pd.DataFrame) -> float:
        return float(roc_auc_score(day["purchased_7d"], day["score"]))

    return daily_metric(rows, timestamp="event_ts", day=pd.Timedelta(days=1), metric=auc)


@pytest.mark.parametrize(("change_day", "days"), [(10, 13), (10, 16), (7, 20)])
def test_the_concept_drift_change_is_located_within_two_days(change_day: int, days: int) -> None:
    """As soon as 3 days after the change have matured, and later with more."""
    series = _daily_auc(change_day, days)
    start = series.index[0]
    found = locate_change(series)
    assert found is not None
    assert abs((found - start).days - change_day) <= 2, (found, series.round(3).to_dict())


def test_one_regime_throughout_changed_at_its_first_day_and_short_series_say_nothing() -> None:
    """Called on a performance drop: a series with no change in it was bad all along."""
    idx = pd.date_range("2026-09-01", periods=10, freq="D", tz="UTC")
    noisy = pd.Series(0.6 + np.random.default_rng(1).normal(0, 0.01, 10), index=idx)
    assert locate_change(noisy) == idx[0]
    assert locate_change(noisy.iloc[:2]) is None
    assert locate_change(pd.Series([np.nan] * 5, index=idx[:5])) is None


def test_daily_metric_leaves_small_cohorts_out() -> None:
    times = pd.to_datetime(["2026-09-01 01:00", "2026-09-01 02:00", "2026-09-02 01:00"], utc=True)
    frame = pd.DataFrame({"ts": times, "v": [1.0, 3.0, 5.0]})
    series = daily_metric(
        frame, timestamp="ts", day=pd.Timedelta(days=1), metric=lambda r: r["v"].mean(), min_rows=2
    )
    assert series.iloc[0] == 2.0 and np.isnan(series.iloc[1])
