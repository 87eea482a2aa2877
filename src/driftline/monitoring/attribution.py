"""Which model version made each prediction: the version logged with it, else the champion
of the moment.

A prediction logged with a model version (``model.model_version``) belongs to that version.
One logged without belongs to the version that held ``champion`` when it was scored: the
audit trail (:func:`driftline.lifecycle.audit.champion_takeovers`) says when each champion
took over, and a champion holds the alias from its takeover (inclusive) to the next one
(exclusive). A row scored before the first recorded takeover belongs to no version: it was
logged in a bootstrap period, before any model existed, and monitoring never tests or
scores it. When the audit trail records no takeover at all (a champion set outside
driftline), every unversioned row is attributed to the current champion, as driftline did
before it knew versions.

The rows' prediction times are compared with the takeovers' wall-clock times, which is
right for live traffic. History replayed or simulated after the fact was scored before the
promotions recorded now, so it must carry its version (``driftline demo`` logs it).

Pure functions: intervals and rows in, versions out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from driftline.config.times import to_ts_us, ts_us, utc
from driftline.specs import ModelSpec


@dataclass(frozen=True)
class ChampionInterval:
    """``version`` held ``champion`` from ``start`` (inclusive; None: from the beginning of
    time) until ``end`` (exclusive; None: it still does)."""

    version: str
    start: pd.Timestamp | None
    end: pd.Timestamp | None

    def __contains__(self, when: datetime | pd.Timestamp) -> bool:
        at = utc(when)
        return (self.start is None or self.start <= at) and (self.end is None or at < self.end)


def champion_intervals(
    takeovers: Sequence[tuple[datetime | pd.Timestamp, str] | tuple[Any, str, bool]],
    *,
    current: str | None = None,
) -> list[ChampionInterval]:
    """The champion's intervals, oldest first, from ``(when, new champion[, adopted])``
    takeovers (see :func:`driftline.lifecycle.audit.champion_takeovers`).

    Each interval ends where the next begins; a takeover by the version that already held
    the alias extends its interval, and takeovers at the same instant keep the last.
    Without any takeover, ``current`` (the champion now, if any) is taken to have held the
    alias for all time: one open interval, or none when ``current`` is None. A first
    champion that was *adopted* served before driftline knew it, so its interval is open
    at the start too: unversioned rows from before the adoption are its predictions.
    """
    ordered = sorted(((utc(t[0]), str(t[1])) for t in takeovers), key=_first)
    if not ordered:
        return [ChampionInterval(current, None, None)] if current is not None else []
    first = min(takeovers, key=lambda t: utc(t[0]))
    adopted_first = len(first) > 2 and bool(first[2])
    merged: list[tuple[pd.Timestamp, str]] = []
    for when, version in ordered:
        if merged and merged[-1][0] == when:
            merged.pop()  # two moves at one instant: the later one stands
        if merged and merged[-1][1] == version:
            continue
        merged.append((when, version))
    return [
        ChampionInterval(
            version,
            None if i == 0 and adopted_first else when,
            merged[i + 1][0] if i + 1 < len(merged) else None,
        )
        for i, (when, version) in enumerate(merged)
    ]


def _first(item: tuple[pd.Timestamp, str]) -> pd.Timestamp:
    return item[0]


def attribute_versions(
    logged: pd.Series, times: pd.Series, intervals: Sequence[ChampionInterval]
) -> pd.Series:
    """The version that made each row: the logged one where present, else the version
    whose champion interval holds the row's time, else None (no model was champion then).

    ``logged`` holds versions as text or missing values, ``times`` the rows' prediction
    times (naive = UTC), aligned with ``logged``; ``intervals`` as
    :func:`champion_intervals` builds them (ordered, not overlapping). Returns text
    versions or None, on ``logged``'s index.
    """
    out = logged.astype(object).where(logged.notna(), None)
    missing = out.isna().to_numpy()
    if not missing.any() or not intervals:
        return out
    at = to_ts_us(times).to_numpy()
    lowest = np.iinfo(np.int64).min
    starts = np.array([lowest if i.start is None else ts_us(i.start) for i in intervals])
    ends = np.array([np.iinfo(np.int64).max if i.end is None else ts_us(i.end) for i in intervals])
    index = np.searchsorted(starts, at, side="right") - 1
    held = (index >= 0) & (at < ends[np.clip(index, 0, None)])
    fill = missing & held
    versions = np.array([i.version for i in intervals], dtype=object)
    values = out.to_numpy(dtype=object, copy=True)
    values[fill] = versions[index[fill]]
    return pd.Series(values, index=logged.index, dtype=object)


def version_key(version: str) -> tuple[int, int, str]:
    """Sort key of versions: registry numbers in numeric order, other labels after them."""
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def majority_version(versions: pd.Series, champion: str | None = None) -> str | None:
    """The version that made most rows (missing values ignored), None when no row has one.
    A tie goes to ``champion`` when it is among the tied, else to the newest version."""
    counts = versions.dropna().astype(str).value_counts()
    if counts.empty:
        return None
    tied = [str(v) for v in counts.index[counts == counts.max()]]
    if champion is not None and champion in tied:
        return champion
    return max(tied, key=version_key)


def made_by(
    frame: pd.DataFrame, spec: ModelSpec, intervals: Sequence[ChampionInterval]
) -> pd.Series:
    """The model version that made each row of a window read from the store: the logged
    version, else the champion at the row's time; None for a row without a score (no
    model scored it) or from before the first champion."""
    m = spec.model
    logged = (
        frame[m.model_version]
        if m.model_version in frame.columns
        else pd.Series([None] * len(frame), index=frame.index, dtype=object)
    )
    versions = attribute_versions(logged, frame[m.timestamp], intervals)
    return versions.where(frame[m.prediction].notna(), None)
