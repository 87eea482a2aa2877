"""Time in driftline: UTC everywhere, stored as integer microseconds since the epoch.

Naive timestamps (as SQLite returns them, or as users pass them) are taken as UTC.
pandas and numpy are imported where a helper needs them, so modules that only need the
clock (alert channels, spec validation) stay light.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def to_ts_us(values: pd.Series) -> pd.Series:
    """Timestamps (naive = UTC) as integer microseconds since the epoch."""
    import pandas as pd

    ts = pd.to_datetime(values, utc=True)
    return ts.astype("datetime64[us, UTC]").astype("int64")


def utc(value: datetime | pd.Timestamp) -> pd.Timestamp:
    """A timestamp in UTC; naive values (SQLite returns them) are taken as UTC."""
    import pandas as pd

    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def ts_us(value: datetime | pd.Timestamp | str) -> int:
    """One timestamp (naive = UTC) as integer microseconds since the epoch."""
    import pandas as pd

    return int(to_ts_us(pd.Series([value])).iloc[0])


def from_ts_us(values: pd.Series | np.ndarray) -> pd.Series:
    """Integer microseconds since the epoch as UTC timestamps."""
    import numpy as np
    import pandas as pd

    return pd.Series(pd.to_datetime(np.asarray(values, dtype="int64"), unit="us", utc=True))


def naive_utc(value: datetime | None) -> datetime | None:
    """A naive datetime in UTC (what Evidently's snapshots expect), or None."""
    if value is None:
        return None
    return utc(value).tz_localize(None).to_pydatetime()


def utc_datetime(value: datetime) -> datetime:
    """A plain timezone-aware UTC ``datetime`` (what database drivers bind); naive values
    are taken to be UTC already. Subclasses (``pandas.Timestamp``) become plain datetimes;
    nanoseconds are dropped."""
    if type(value) is not datetime:
        value = datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=value.tzinfo,
        )
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
