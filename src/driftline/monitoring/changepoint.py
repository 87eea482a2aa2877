"""Where did the regime change? The first day of a new regime in a daily series.

When realized performance drops, the retrain must learn from data after the change, not
from the weeks before it. The change is located on the daily (per-cohort: predictions
of the same day) realized metric of the champion's own predictions with PELT (Killick,
Fearnhead & Eckley 2012, "Optimal detection of changepoints with a linear computational
cost", JASA 107) from the ``ruptures`` library (Truong, Oudre & Vayatis 2020), with the
least-squares cost (a change in the mean) and a BIC-like penalty ``3 sigma^2 log n``
whose noise level sigma is estimated robustly from day-to-day differences (median
absolute deviation / 0.6745 / sqrt 2). The newest change PELT finds is the one that matters; when it
finds none, the whole series is one regime and the change is at (or before) its first
day.

Pure: a series in, a timestamp out.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

#: Fewest days a series needs before a change in it can be located.
MIN_DAYS = 3
#: Fewest labelled rows of a day for its metric to enter the series.
MIN_DAY_ROWS = 50


def locate_change(series: pd.Series) -> pd.Timestamp | None:
    """The first day of the newest regime of ``series`` (index: day starts, values: a
    metric, NaN days ignored), or None when it has fewer than :data:`MIN_DAYS` values.

    Method: PELT with the l2 cost and penalty ``3 sigma^2 log n`` (``ruptures.Pelt``, one day
    minimum per segment). The returned day is the first day after the newest breakpoint;
    without a breakpoint above the penalty, the series' first day (one regime throughout:
    the change came at or before it).
    """
    import ruptures

    values = series.dropna().sort_index()
    n = len(values)
    if n < MIN_DAYS:
        return None
    signal = values.to_numpy(dtype=float).reshape(-1, 1)
    diffs = np.diff(signal[:, 0])
    sigma = float(np.median(np.abs(diffs - np.median(diffs)))) / 0.6745 / math.sqrt(2)
    sigma = max(sigma, 1e-3 * max(float(np.std(signal)), 1e-9))
    penalty = 3 * sigma**2 * math.log(n)
    breaks = ruptures.Pelt(model="l2", min_size=1, jump=1).fit(signal).predict(pen=penalty)
    inner = [b for b in breaks if b < n]
    if not inner:  # one regime throughout: the change is at (or before) its first day
        return pd.Timestamp(values.index[0])
    return pd.Timestamp(values.index[max(inner)])


def daily_metric(
    frame: pd.DataFrame,
    *,
    timestamp: str,
    day: pd.Timedelta,
    metric: object,
    min_rows: int = MIN_DAY_ROWS,
) -> pd.Series:
    """``metric(rows)`` of each ``day``-long cohort of ``frame`` (by ``timestamp``, UTC),
    indexed by the cohort's start; cohorts of fewer than ``min_rows`` rows, or whose
    metric is not a finite number, are NaN. ``metric`` is a callable taking the cohort's
    rows and returning a float."""
    if frame.empty:
        return pd.Series(dtype=float)
    times = pd.to_datetime(frame[timestamp], utc=True)
    epoch = pd.Timestamp(0, tz="UTC")
    cohort = epoch + ((times - epoch) // day) * day
    values: dict[pd.Timestamp, float] = {}
    for start, rows in frame.groupby(cohort, sort=True):
        value = float(metric(rows)) if len(rows) >= min_rows else float("nan")  # type: ignore[operator]
        values[pd.Timestamp(start)] = value if math.isfinite(value) else float("nan")
    return pd.Series(values, dtype=float).sort_index()
