"""Every window driftline reads, measured the same way: monitored windows, the labelled
performance window, training and holdout windows, the benchmark window.

All times are UTC, windows are ``[start, end)``. Training-side windows are measured back
from the data clock (the newest prediction, or an explicit ``as_of``), so replayed or
simulated history is handled exactly like live traffic. Rows come from the model's
source (:func:`driftline.data.source.open_source`): driftline's store, or the table the
spec's ``source:`` names.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from driftline.config.errors import DataError
from driftline.config.times import utc, utc_now
from driftline.data.source import open_source
from driftline.data.store import ENTITY_KEY, Store
from driftline.specs import ModelSpec, Monitoring
from driftline.tasks import task_for

log = logging.getLogger(__name__)

# -- monitored windows ---------------------------------------------------------------------


def window_bounds(
    monitoring: Monitoring, window_end: datetime | str | None = None, *, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """``[start, end)`` of the window ending at ``window_end``; by default the last window
    boundary before ``now`` (boundaries are multiples of the window length since the
    epoch, so daily windows end at midnight UTC)."""
    length = pd.Timedelta(monitoring.window)
    if window_end is None:
        current = pd.Timestamp(utc(now or utc_now()))
        end = current.floor(length) if length <= pd.Timedelta(days=1) else _floor(current, length)
    else:
        end = _timestamp(window_end, "window end")
    return (end - length).to_pydatetime(), end.to_pydatetime()


def _timestamp(value: datetime | str, what: str) -> pd.Timestamp:
    """A UTC timestamp from a datetime or an ISO string (naive = UTC)."""
    try:
        return pd.Timestamp(utc(pd.Timestamp(value)))
    except (ValueError, TypeError):
        raise DataError(
            f"{what} {value!r} is not a date or time; use ISO 8601, e.g. 2026-10-01 or "
            "2026-10-01T06:00:00Z"
        ) from None


def _floor(ts: pd.Timestamp, length: pd.Timedelta) -> pd.Timestamp:
    epoch = pd.Timestamp(0, tz="UTC")
    return epoch + ((ts - epoch) // length) * length


def window_ends(
    monitoring: Monitoring, start: datetime | str, end: datetime | str
) -> list[datetime]:
    """The ends of the consecutive windows that cover ``[start, end)``."""
    length = pd.Timedelta(monitoring.window)
    first, last = _timestamp(start, "start"), _timestamp(end, "end")
    if last <= first:
        raise DataError(f"the backfill range is empty: end {last} is not after start {first}")
    ends = []
    cursor = first + length
    while cursor <= last:
        ends.append(cursor.to_pydatetime())
        cursor += length
    if not ends:
        raise DataError(
            f"the range {first} to {last} is shorter than one window ({monitoring.window})"
        )
    return ends


def read_window(store: Store, spec: ModelSpec, start: datetime, end: datetime) -> pd.DataFrame:
    """The predictions of ``[start, end)`` (consenting customers only when the spec has a
    consent column: their consent covers monitoring), from the model's source."""
    with open_source(store, spec) as source:
        return source.read_predictions(spec, start, end, consented_only=bool(spec.model.consent))


def read_window_batches(
    store: Store, spec: ModelSpec, start: datetime, end: datetime, columns: Sequence[str]
) -> Iterator[pd.DataFrame]:
    """``columns`` of the rows :func:`read_window` reads, in frames of a bounded number of
    rows from driftline's store (:meth:`Store.read_prediction_batches`; a ``source:``
    table is read whole), in no particular order."""
    with open_source(store, spec) as source:
        yield from source.read_prediction_batches(
            spec, start, end, columns, consented_only=bool(spec.model.consent)
        )


@dataclass(frozen=True)
class PerformanceWindow:
    """The predictions whose labels are scored at a monitored window's end: ``[start,
    end)``, and the cohort's name (``2026-W35``, ``2026-09``) when the spec measures by
    cohort, else None."""

    start: datetime
    end: datetime
    cohort: str | None = None


def performance_window(spec: ModelSpec, end: datetime) -> PerformanceWindow:
    """The predictions whose labels are scored at ``end``: every one of them was made at
    least ``label_delay_days`` before ``end``, so its label's horizon has fully elapsed
    (a censored label never counts).

    Without ``monitoring.performance.cohort``: the ``performance.window`` ending
    ``label_delay_days`` before ``end``. With ``week`` (ISO weeks, Monday 00:00 UTC) or
    ``month``: the newest whole cohort that ends at or before that point, so a 365-day
    label delay judges e.g. the cohort of week 2026-W35 once its last prediction matured.
    """
    stop = pd.Timestamp(utc(end)) - pd.Timedelta(days=spec.model.label_delay_days)
    kind = spec.monitoring.performance.cohort
    if kind is None:
        start = stop - pd.Timedelta(spec.monitoring.performance.window)
        return PerformanceWindow(start.to_pydatetime(), stop.to_pydatetime())
    naive = stop.tz_convert("UTC").tz_localize(None)
    if kind == "week":
        # The Monday on or before ``stop``: the end of the newest matured week.
        cohort_end = naive.normalize() - pd.Timedelta(days=naive.weekday())
        cohort_start = cohort_end - pd.Timedelta(days=7)
        year, week, _ = cohort_start.isocalendar()
        name = f"{year}-W{week:02d}"
    else:
        cohort_end = naive.normalize().replace(day=1)
        cohort_start = (cohort_end - pd.Timedelta(days=1)).replace(day=1)
        name = f"{cohort_start:%Y-%m}"
    return PerformanceWindow(
        cohort_start.tz_localize("UTC").to_pydatetime(),
        cohort_end.tz_localize("UTC").to_pydatetime(),
        name,
    )


def read_labelled(
    store: Store,
    spec: ModelSpec,
    start: datetime,
    end: datetime,
    *,
    as_of: datetime,
    segments: bool = True,
) -> pd.DataFrame:
    """Score, label, prediction time and logged model version (None where none was
    logged) of predictions in ``[start, end)`` whose label arrived by ``as_of``
    (so a backfill sees only what was known then), from the model's source, under the
    spec's column names; with the segment columns (``model.segments``) unless
    ``segments`` is false."""
    with open_source(store, spec) as source:
        return source.read_labelled(spec, start, end, as_of=as_of, segments=segments)


# -- training, holdout and benchmark windows -----------------------------------------------

#: Fewest labelled rows a benchmark window may hold.
MIN_BENCHMARK_ROWS = 200


@dataclass(frozen=True)
class Windows:
    """Time windows measured back from the data clock ``as_of`` (all UTC, [start, end))."""

    as_of: pd.Timestamp
    train_start: pd.Timestamp
    train_end: pd.Timestamp  # = holdout start
    holdout_end: pd.Timestamp  # = newest matured prediction time

    @property
    def holdout_start(self) -> pd.Timestamp:
        return self.train_end

    def as_params(self) -> dict[str, str]:
        return {
            "as_of": self.as_of.isoformat(),
            "train_start": self.train_start.isoformat(),
            "train_end": self.train_end.isoformat(),
            "holdout_end": self.holdout_end.isoformat(),
        }


def plan_windows(spec: ModelSpec, as_of: datetime | pd.Timestamp) -> Windows:
    """Training and holdout windows for a data clock of ``as_of``.

    Labels mature ``label_delay_days`` after a prediction; the newest ``holdout_days`` of
    matured predictions are the holdout, the ``lookback_days`` before it the training set.
    """
    t = spec.training
    now = utc(as_of)
    matured_end = now - pd.Timedelta(days=spec.model.label_delay_days)
    holdout_start = matured_end - pd.Timedelta(days=t.holdout_days)
    return Windows(
        as_of=now,
        train_start=holdout_start - pd.Timedelta(days=t.lookback_days),
        train_end=holdout_start,
        holdout_end=matured_end,
    )


def data_clock(store: Store, spec: ModelSpec, *, now: datetime | None = None) -> pd.Timestamp:
    """The time of the newest prediction (in the model's source): "now" for windows, so
    replayed or simulated history is handled exactly like live traffic.

    A prediction dated more than ``model.future_tolerance`` after ``now`` (default: the
    present) never counts: one row from the future (a broken clock, a table that
    ingestion did not check) would otherwise move every training and benchmark window
    past the labelled data. DataError when the source holds no prediction, or none that
    is not from the future."""
    latest = pd.Timestamp(utc(now or utc_now())) + pd.Timedelta(spec.model.future_tolerance)
    with open_source(store, spec) as source:
        newest = source.newest_prediction(spec)
        if newest is None:
            raise DataError(source.empty_message(spec))
        last = newest
        if newest > latest:
            last = source.newest_prediction(spec, not_after=latest)
            log.warning(
                "%s: predictions dated up to %s lie after %s (now plus model.future_tolerance) "
                "in the %s; the data clock ignores them",
                spec.name,
                newest,
                latest,
                source.description,
            )
        if last is None:
            raise DataError(
                f"every prediction of {spec.name!r} in the {source.description} is dated "
                f"after {latest:%Y-%m-%d %H:%M} UTC (now plus model.future_tolerance): fix "
                "the timestamps where they are written"
            )
    return (utc(last) + pd.Timedelta(microseconds=1)).ceil("s")


def usable_rows(
    store: Store, spec: ModelSpec, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Labelled, consenting, de-duplicated rows of ``[start, end)`` and what was dropped.

    Without a consent column in the spec every row counts as usable. Duplicates are
    repeated log lines: same entity, time and features (e.g. a retried request).
    """
    m = spec.model
    with open_source(store, spec) as source:
        frame = source.read_predictions(
            spec, start, end, with_labels=True, consented_only=m.consent is not None
        )
    read = len(frame)
    frame = frame[frame[m.target].notna()]
    labelled = len(frame)
    frame = frame.drop_duplicates(subset=[ENTITY_KEY, m.timestamp, *m.features.all])
    counts = {"read": read, "unlabelled": read - labelled, "duplicates": labelled - len(frame)}
    counts["rows"] = len(frame)
    frame = frame.reset_index(drop=True)
    frame[m.target] = task_for(m).typed_labels(frame[m.target])
    return frame, counts


def benchmark_window(
    store: Store,
    spec: ModelSpec,
    trained_until: list[pd.Timestamp | None],
    as_of: datetime | pd.Timestamp | None = None,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The newest ``holdout_days`` of matured predictions, starting no earlier than the
    end of either model's training window (so both score unseen rows)."""
    windows = plan_windows(spec, as_of if as_of is not None else data_clock(store, spec))
    start = max([windows.holdout_start, *(t for t in trained_until if t is not None)])
    if start >= windows.holdout_end:
        raise DataError(
            f"{spec.name}: a model was trained on data up to {start:%Y-%m-%d %H:%M} UTC, "
            f"so no matured labels remain to benchmark on (labels mature "
            f"{spec.model.label_delay_days} days after a prediction); wait for newer labels"
        )
    return start, windows.holdout_end


# -- after a change ------------------------------------------------------------------------


def rows_needed_after(spec: ModelSpec) -> int:
    """Labelled rows after a change that a retrain on them needs: ``training.min_rows`` to
    train on, once the newest share ``holdout_days / (holdout_days + lookback_days)`` (at
    least :data:`MIN_BENCHMARK_ROWS` rows) is kept for the benchmark."""
    t = spec.training
    share = t.holdout_days / (t.holdout_days + t.lookback_days)
    return max(math.ceil(t.min_rows / (1 - share)), t.min_rows + MIN_BENCHMARK_ROWS)


@dataclass(frozen=True)
class AfterChange:
    """The labelled data after a change: how many rows have matured by ``as_of``, how many
    a retrain needs, and (once there are enough) its training and holdout windows."""

    since: pd.Timestamp
    rows: int
    needed: int
    windows: Windows | None

    @property
    def ready(self) -> bool:
        return self.windows is not None


def plan_after_change(
    store: Store, spec: ModelSpec, as_of: datetime | pd.Timestamp, since: datetime | pd.Timestamp
) -> AfterChange:
    """Training and holdout windows on data after the change at ``since`` only.

    The labelled, usable rows (:func:`usable_rows`) of ``[since, matured end)`` — no
    further back than ``lookback_days + holdout_days`` — are split by time: the newest
    share ``holdout_days / (holdout_days + lookback_days)`` of them (at least
    :data:`MIN_BENCHMARK_ROWS` rows, at most ``holdout_days`` long) is the holdout, the
    rest the training window. ``windows`` is None while fewer than
    :func:`rows_needed_after` rows exist.
    """
    t = spec.training
    plain = plan_windows(spec, as_of)
    earliest = plain.holdout_end - pd.Timedelta(days=t.lookback_days + t.holdout_days)
    start = max(utc(since), earliest)
    needed = rows_needed_after(spec)
    if start >= plain.holdout_end:
        return AfterChange(utc(since), 0, needed, None)
    frame, _ = usable_rows(store, spec, start, plain.holdout_end)
    rows = len(frame)
    if rows < needed:
        return AfterChange(utc(since), rows, needed, None)
    share = t.holdout_days / (t.holdout_days + t.lookback_days)
    times = pd.to_datetime(frame[spec.model.timestamp], utc=True).sort_values()
    holdout_rows = max(MIN_BENCHMARK_ROWS, math.ceil(rows * share))
    boundary = max(
        pd.Timestamp(times.iloc[rows - holdout_rows]),
        plain.holdout_end - pd.Timedelta(days=t.holdout_days),
    )
    windows = Windows(
        as_of=plain.as_of,
        train_start=max(start, boundary - pd.Timedelta(days=t.lookback_days)),
        train_end=boundary,
        holdout_end=plain.holdout_end,
    )
    return AfterChange(utc(since), rows, needed, windows)
