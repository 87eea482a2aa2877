"""What the policy needs from the store beyond the window and its recent history.

:func:`champion_since` (when the champion's grace began, on the data clock),
:func:`acknowledged_drift` (drift a rejected challenger showed to be harmless) and
:func:`locate_change` (where the regime changed, and how many labelled rows exist after
it). Each reads the store; the decisions stay in the pure :mod:`driftline.monitoring.policy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from driftline.config.times import utc
from driftline.data.store import Store
from driftline.data.windows import plan_after_change, plan_windows, read_labelled
from driftline.lifecycle.audit import Takeover, recent_decisions
from driftline.monitoring.attribution import ChampionInterval, made_by
from driftline.monitoring.changepoint import daily_metric
from driftline.monitoring.changepoint import locate_change as locate_in
from driftline.monitoring.policy import (
    LASTING_ESTIMATED_DROP,
    Acknowledged,
    ChangePoint,
    Decision,
    PastRun,
    drift_onset,
    estimated_drop_onset,
)
from driftline.monitoring.results import DriftResult
from driftline.monitoring.runs import first_window_since, last_retrain_run
from driftline.specs import ModelSpec
from driftline.tasks import task_for

#: Gates whose failure means "the challenger is no better than the champion".
NO_BETTER_GATES = frozenset({"improvement", "non_inferiority"})
#: Audit outcomes after which the champion or its reference changed: an earlier
#: rejection no longer speaks for the drift the monitor sees now.
_FRESH_START = frozenset({"promoted", "rolled_back", "rebaselined", "restored"})


def champion_since(
    store: Store, model: str, version: str | None, takeovers: Sequence[Takeover], end: datetime
) -> datetime | None:
    """When ``version`` became champion, on the data clock: the end of the first window
    monitored against it after its latest takeover in the audit trail (promotion,
    adoption, rollback), or ``end`` when this window is the first. None when the audit
    trail has no takeover of it (the alias was moved outside driftline)."""
    if version is None:
        return None
    moved = [t for t in takeovers if t.version == version]
    if not moved:
        return None
    first = first_window_since(store, model, version, moved[-1].when.to_pydatetime())
    return first if first is not None and first < end else end


def acknowledged_drift(store: Store, model: str, version: str | None) -> Acknowledged | None:
    """The drift the current champion's monitor stops retraining for, or None.

    The newest decision of the audit trail counts when it rejected a challenger as no
    better (:data:`NO_BETTER_GATES` failed) against champion ``version``, and the retrain
    before it was asked for by input drift (its drifted columns are acknowledged) or by a
    lasting estimated drop (``estimated``: the estimate asks for no more retrains). A
    promotion, adoption, rollback or re-baseline since starts afresh."""
    if version is None:
        return None
    for decision in recent_decisions(store, model, limit=20):
        if decision.outcome in _FRESH_START:
            return None
        if decision.outcome != "rejected" or decision.champion_before != version:
            continue
        gates = (decision.gate_report or {}).get("gates", [])
        failed = tuple(g["name"] for g in gates if g.get("status") == "failed")
        if not NO_BETTER_GATES & set(failed):
            return None
        asked = last_retrain_run(store, model, version, decision.created_at.to_pydatetime())
        if asked is None or asked.retrain_reason != "drift":
            return None
        estimated = LASTING_ESTIMATED_DROP in asked.triggers
        if not (asked.drifted_columns or estimated):
            return None
        return Acknowledged(
            columns=asked.drifted_columns,
            version=decision.challenger_version or "?",
            rejected_at=asked.window_end,
            gates=failed,
            estimated=estimated,
        )
    return None


def locate_change(
    store: Store,
    spec: ModelSpec,
    decision: Decision,
    result: DriftResult,
    history: Sequence[PastRun],
    end: datetime,
    version: str | None,
    intervals: Sequence[ChampionInterval],
) -> ChangePoint:
    """Where the regime behind a retrain decision changed, and the labelled rows after it.

    Performance: the daily realized metric that dropped, of the champion's own
    predictions over the last ``lookback_days + holdout_days`` of matured labels
    (:func:`driftline.monitoring.changepoint.locate_change`); without a located change,
    the start of the judged performance window. Input drift: the first window of the
    lasting drift (:func:`driftline.monitoring.policy.drift_onset`). A lasting estimated
    drop without lasting input drift: its first window
    (:func:`driftline.monitoring.policy.estimated_drop_onset`); with both, the input
    drift's, where the inputs began to move.
    """
    mon = spec.monitoring
    estimated_only = (
        LASTING_ESTIMATED_DROP in decision.triggers and "persistent" not in decision.triggers
    )
    if decision.retrain_reason == "performance":
        at, how = _performance_change(store, spec, result, end, version, intervals)
    elif estimated_only:
        at = estimated_drop_onset(history, end, mon.window, mon.policy.persistence, version)
        how = "the first window of the lasting estimated drop"
    else:
        at = drift_onset(history, end, mon.window, mon.policy.persistence, version)
        how = "the first window of the lasting input drift"
    after = plan_after_change(store, spec, end, at)
    return ChangePoint(at=utc(at).to_pydatetime(), rows=after.rows, needed=after.needed, how=how)


def _performance_change(
    store: Store,
    spec: ModelSpec,
    result: DriftResult,
    end: datetime,
    version: str | None,
    intervals: Sequence[ChampionInterval],
) -> tuple[datetime, str]:
    m, t, mon = spec.model, spec.training, spec.monitoring
    task = task_for(m)
    matured_end = plan_windows(spec, end).holdout_end
    start = matured_end - pd.Timedelta(days=t.lookback_days + t.holdout_days)
    fallback = matured_end - pd.Timedelta(mon.performance.window)
    metric = _dropped_metric(result, spec)
    if metric is None:
        return fallback.to_pydatetime(), "the start of the judged performance window"
    labelled = read_labelled(store, spec, start, matured_end, as_of=end)
    own = labelled[(made_by(labelled, spec, intervals) == version).to_numpy()]

    def realized(rows: pd.DataFrame) -> float:
        usable = task.labelled(rows, m.prediction, m.target)
        if usable is None:
            return float("nan")
        return float(task.realized(usable, m.prediction, m.target).get(metric, float("nan")))

    series = daily_metric(own, timestamp=m.timestamp, day=pd.Timedelta(mon.window), metric=realized)
    found = locate_in(series)
    if found is None:
        return fallback.to_pydatetime(), (
            f"too few days of realized {metric} to locate a change: the start of the judged "
            "performance window"
        )
    return found.to_pydatetime(), f"PELT change point of the daily realized {metric}"


def _dropped_metric(result: DriftResult, spec: ModelSpec) -> str | None:
    """The watched metric that fell furthest beyond its allowed drop."""
    perf = result.performance
    if perf is None:
        return None
    beyond = []
    for metric, allowed in spec.monitoring.performance.max_drop.items():
        drop = perf.drop(metric)
        if drop is not None and drop > allowed:
            beyond.append((drop / allowed, metric))
    return max(beyond)[1] if beyond else None
