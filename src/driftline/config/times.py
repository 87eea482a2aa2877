"""Time in driftline: UTC everywhere, stored as integer microseconds since the epoch.

Naive timestamps (as SQLite returns them, or as users pass them) are taken as UTC.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd


def to_ts_us(values: pd.Series) -> pd.Series:
    """Timestamps (naive = UTC) as integer microseconds since the epoch."""
    ts = pd.to_datetime(values, utc=True)
    return ts.astype("datetime64[us, UTC]").astype("int64")


def utc(value: datetime | pd.Timestamp) -> pd.Timestamp:
    """A timestamp in UTC; naive values (SQLite returns them) are taken as UTC."""
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def ts_us(value: datetime | pd.Timestamp | str) -> int:
    """One timestamp (naive = UTC) as integer microseconds since the epoch."""
    return int(to_ts_us(pd.Series([value])).iloc[0])


def from_ts_us(values: pd.Series | np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(np.asarray(values, dtype="int64"), unit="us", utc=True))


def naive_utc(value: datetime | None) -> datetime | None:
    """A naive datetime in UTC (what Evidently's snapshots expect), or None."""
    if value is None:
        return None
    return utc(value).tz_localize(None).to_pydatetime()
