"""Monitor runs in the store: one row per run (migration 0003) and its per-column results.

Every run is kept, failed ones included, so the history shows what the monitor saw and
decided each time. When a window was checked more than once, the latest run speaks for
it in the policy's history.

``performance_json`` holds the realized performance the policy judged (the champion's
predictions, with their ``version``) and, under ``other_versions``, that of other versions
in the labelled window. Runs stored before versions were known lack both keys and still
load (their version is None).

``decision_json`` (migration 0005) keeps what the policy decided beyond the action: the
drifted columns that counted, the retrain reason and the change point; NULL for runs
stored before it (they load with no columns, reason or change point). It also holds the
per-segment checks (``segments``) and the domain-classifier check (``multivariate``) when the
spec turned them on, the calendar events active in the window (``events``) with the
columns they declared (``expected_columns``: recorded, not counted), and ``alert_id``: the
alert queued in the outbox for the run (:func:`record_alert`; null when none was, as in a
backfill). Runs stored before any of these load without them.

``quality_json`` holds every data-quality finding, each with ``counted``: False for an
out-of-range value or unseen category on a column a calendar event expected.

``estimated_json`` (migration 0007) keeps the champion's performance estimated without
labels: ``window`` on the monitored window, ``labelled`` on the labelled window next to
its realized metrics; NULL when nothing was estimated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from driftline.config.times import utc_datetime, utc_now
from driftline.data.store import Store
from driftline.monitoring.policy import Decision, PastRun
from driftline.monitoring.results import (
    ColumnDrift,
    DriftResult,
    EstimatedPerformance,
    JointDrift,
    RealizedPerformance,
    SegmentReport,
)

RUNS_TABLE = "dl_monitor_runs"
COLUMNS_TABLE = "dl_monitor_columns"


@dataclass(frozen=True)
class StoredRun:
    """A monitor run as stored."""

    id: int
    model: str
    window_start: datetime
    window_end: datetime
    status: str
    decision: str
    severity: str
    reasons: list[str]
    triggers: list[str]
    drift_share: float | None
    dataset_drift: bool | None
    input_drift: bool | None
    prediction_drift: bool | None
    quality_ok: bool | None
    champion_version: str | None
    rows_current: int | None
    rows_reference: int | None
    rows_labelled: int | None
    performance: dict[str, Any] | None
    quality: list[dict[str, Any]]
    report_path: str | None
    error: str | None
    engine: str | None
    created_at: datetime
    drifted_columns: tuple[str, ...] = ()
    retrain_reason: str | None = None
    change_point: datetime | None = None
    segments: SegmentReport | None = None
    multivariate: JointDrift | None = None
    estimated: dict[str, Any] | None = None
    expected_columns: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    alert_id: str | None = None

    @property
    def estimated_window(self) -> EstimatedPerformance | None:
        """The champion's performance on the monitored window, estimated without labels."""
        found = (self.estimated or {}).get("window")
        return EstimatedPerformance.from_dict(found) if found else None

    @property
    def estimated_labelled(self) -> EstimatedPerformance | None:
        """The estimate on the labelled window, with its realized metrics beside it."""
        found = (self.estimated or {}).get("labelled")
        return EstimatedPerformance.from_dict(found) if found else None

    @property
    def realized(self) -> RealizedPerformance | None:
        """The realized performance the policy judged (the champion's predictions)."""
        return RealizedPerformance.from_dict(self.performance) if self.performance else None

    @property
    def other_realized(self) -> list[RealizedPerformance]:
        """Realized performance of other versions in the labelled window (not judged)."""
        others = (self.performance or {}).get("other_versions", [])
        return [RealizedPerformance.from_dict(o) for o in others]

    def past(self) -> PastRun:
        """The run as the policy sees it in the history."""
        return PastRun(
            window_end=self.window_end,
            status=self.status,
            action=self.decision,
            input_drift=bool(self.input_drift),
            quality_ok=self.quality_ok is not False,
            champion_version=self.champion_version,
            triggers=tuple(self.triggers),
            alerted=self.alert_id is not None,
        )


@dataclass(frozen=True)
class StoredColumn:
    """One column's stored verdict in a run (role: feature or prediction)."""

    run_id: int
    name: str
    role: str
    type: str
    method: str
    score: float
    threshold: float
    drifted: bool
    missing_share: float | None


def record_run(
    store: Store,
    *,
    model: str,
    window_start: datetime,
    window_end: datetime,
    decision: Decision,
    result: DriftResult | None = None,
    champion_version: str | None = None,
    report_path: str | None = None,
    error: str | None = None,
    rows_current: int | None = None,
    created_at: datetime | None = None,
) -> int:
    """Store one run and its column results in one transaction; return the run's id."""
    runs, columns = store.table(RUNS_TABLE), store.table(COLUMNS_TABLE)
    perf = result.performance if result is not None else None
    row = {
        "model": model,
        "window_start": utc_datetime(window_start),
        "window_end": utc_datetime(window_end),
        "status": decision.status,
        "decision": decision.action,
        "severity": decision.severity,
        "reasons_json": json.dumps(list(decision.reasons)),
        "triggers_json": json.dumps(list(decision.triggers)),
        "drift_share": decision.drift_share,
        # what the policy counted (a calendar event's expected columns left out), so the
        # stored verdict agrees with the stored drift share
        "dataset_drift": decision.dataset_drift if result is not None else None,
        "input_drift": decision.input_drift if result is not None else None,
        "prediction_drift": result.prediction_drift if result is not None else None,
        "quality_ok": decision.quality_ok if result is not None else None,
        "champion_version": champion_version,
        "rows_current": result.rows_current if result is not None else rows_current,
        "rows_reference": result.rows_reference if result is not None else None,
        "rows_labelled": perf.labelled_rows if perf is not None else None,
        "performance_json": (
            json.dumps(
                {
                    **perf.to_dict(),
                    "other_versions": [o.to_dict() for o in result.other_performance],
                }
            )
            if perf is not None and result is not None
            else None
        ),
        "quality_json": (
            json.dumps(
                [{**q.to_dict(), "counted": not decision.expects(q)} for q in result.quality]
            )
            if result is not None
            else None
        ),
        "report_path": report_path,
        "error": error,
        "engine": result.engine if result is not None else None,
        "created_at": utc_datetime(created_at or utc_now()),
        "estimated_json": _estimated_json(result),
        "decision_json": json.dumps(
            {
                "drifted_columns": list(decision.drifted_columns),
                "retrain_reason": decision.retrain_reason,
                "change_point": (
                    decision.change_point.isoformat() if decision.change_point else None
                ),
                "segments": (
                    result.segments.to_dict() if result is not None and result.segments else None
                ),
                "multivariate": (
                    result.multivariate.to_dict()
                    if result is not None and result.multivariate
                    else None
                ),
                "events": list(decision.events),
                "expected_columns": list(decision.expected_columns),
                "alert_id": None,
            }
        ),
    }
    with store.engine.begin() as conn:
        key = conn.execute(runs.insert().values(**row)).inserted_primary_key
        assert key is not None  # an INSERT always has one
        run_id = int(key[0])
        if result is not None:
            items: list[tuple[str, ColumnDrift]] = [("feature", c) for c in result.columns]
            items += [("prediction", p) for p in result.predictions]
            conn.execute(
                columns.insert(),
                [
                    {
                        "run_id": run_id,
                        "column_name": c.name,
                        "position": position,
                        "role": role,
                        "column_type": c.type,
                        "method": c.method,
                        "score": c.score,
                        "threshold": c.threshold,
                        "drifted": c.drifted,
                        "missing_share": c.missing_share,
                    }
                    for position, (role, c) in enumerate(items)
                ],
            )
    return run_id


def _estimated_json(result: DriftResult | None) -> str | None:
    if result is None or (result.estimated is None and result.estimated_labelled is None):
        return None
    window, labelled = result.estimated, result.estimated_labelled
    return json.dumps(
        {
            "window": window.to_dict() if window else None,
            "labelled": labelled.to_dict() if labelled else None,
        }
    )


def _stored(row: Any) -> StoredRun:
    detail = json.loads(row.decision_json) if row.decision_json else {}
    change = detail.get("change_point")
    return StoredRun(
        id=int(row.id),
        model=row.model,
        window_start=utc_datetime(row.window_start),
        window_end=utc_datetime(row.window_end),
        status=row.status,
        decision=row.decision,
        severity=row.severity,
        reasons=json.loads(row.reasons_json),
        triggers=json.loads(row.triggers_json),
        drift_share=row.drift_share,
        dataset_drift=row.dataset_drift,
        input_drift=row.input_drift,
        prediction_drift=row.prediction_drift,
        quality_ok=row.quality_ok,
        champion_version=row.champion_version,
        rows_current=row.rows_current,
        rows_reference=row.rows_reference,
        rows_labelled=row.rows_labelled,
        performance=json.loads(row.performance_json) if row.performance_json else None,
        quality=json.loads(row.quality_json) if row.quality_json else [],
        report_path=row.report_path,
        error=row.error,
        engine=row.engine,
        created_at=utc_datetime(row.created_at),
        drifted_columns=tuple(detail.get("drifted_columns") or ()),
        retrain_reason=detail.get("retrain_reason"),
        change_point=utc_datetime(datetime.fromisoformat(change)) if change else None,
        segments=SegmentReport.from_dict(detail["segments"]) if detail.get("segments") else None,
        multivariate=(
            JointDrift.from_dict(detail["multivariate"]) if detail.get("multivariate") else None
        ),
        estimated=json.loads(row.estimated_json) if row.estimated_json else None,
        expected_columns=tuple(detail.get("expected_columns") or ()),
        events=tuple(detail.get("events") or ()),
        alert_id=detail.get("alert_id"),
    )


def list_runs(
    store: Store,
    model: str,
    *,
    since: datetime | None = None,
    before: datetime | None = None,
    limit: int | None = 100,
) -> list[StoredRun]:
    """Runs of ``model`` (windows ending in ``[since, before)``), newest window first."""
    runs = store.table(RUNS_TABLE)
    query = sa.select(runs).where(runs.c.model == model)
    if since is not None:
        query = query.where(runs.c.window_end >= utc_datetime(since))
    if before is not None:
        query = query.where(runs.c.window_end < utc_datetime(before))
    query = query.order_by(runs.c.window_end.desc(), runs.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    with store.engine.connect() as conn:
        return [_stored(r) for r in conn.execute(query)]


def record_alert(store: Store, run_id: int, alert_id: str) -> None:
    """Note on run ``run_id`` that its alert ``alert_id`` was queued in the alerts outbox
    (``decision_json.alert_id``): the policy counts a calendar event as announced only
    by a window whose alert was queued. Nothing happens for an unknown run."""
    runs = store.table(RUNS_TABLE)
    with store.engine.begin() as conn:
        query = sa.select(runs.c.decision_json).where(runs.c.id == run_id).with_for_update()
        found = conn.execute(query).first()
        if found is None:
            return
        detail = {**json.loads(found.decision_json or "{}"), "alert_id": alert_id}
        conn.execute(
            runs.update().where(runs.c.id == run_id).values(decision_json=json.dumps(detail))
        )


def clear_report_paths(store: Store, run_ids: list[int]) -> None:
    """Forget the report file of runs whose reports were deleted (by an erasure)."""
    if not run_ids:
        return
    runs = store.table(RUNS_TABLE)
    with store.engine.begin() as conn:
        conn.execute(runs.update().where(runs.c.id.in_(run_ids)).values(report_path=None))


def get_run(store: Store, run_id: int) -> StoredRun | None:
    runs = store.table(RUNS_TABLE)
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
    return _stored(row) if row is not None else None


def run_columns(store: Store, run_id: int) -> list[StoredColumn]:
    """The per-column verdicts of one run in the order checked (the score last)."""
    columns = store.table(COLUMNS_TABLE)
    query = sa.select(columns).where(columns.c.run_id == run_id).order_by(columns.c.position)
    with store.engine.connect() as conn:
        rows = list(conn.execute(query))
    return [
        StoredColumn(
            run_id=int(r.run_id),
            name=r.column_name,
            role=r.role,
            type=r.column_type,
            method=r.method,
            score=float(r.score),
            threshold=float(r.threshold),
            drifted=bool(r.drifted),
            missing_share=r.missing_share,
        )
        for r in rows
    ]


def history(store: Store, model: str, *, since: datetime, before: datetime) -> list[PastRun]:
    """The policy's view of earlier runs: the latest run per window, newest first."""
    seen: set[datetime] = set()
    past: list[PastRun] = []
    for run in list_runs(store, model, since=since, before=before, limit=None):
        if run.window_end in seen:
            continue
        seen.add(run.window_end)
        past.append(run.past())
    return past


def first_window_since(
    store: Store, model: str, version: str, created_since: datetime
) -> datetime | None:
    """The end of the earliest window monitored against ``version`` by a run recorded at
    or after ``created_since`` (wall clock), or None: when a champion's grace began on the
    data clock."""
    runs = store.table(RUNS_TABLE)
    query = sa.select(sa.func.min(runs.c.window_end)).where(
        runs.c.model == model,
        runs.c.champion_version == version,
        runs.c.created_at >= utc_datetime(created_since),
    )
    with store.engine.connect() as conn:
        value = conn.execute(query).scalar()
    return utc_datetime(value) if value is not None else None


def last_retrain_run(
    store: Store, model: str, version: str, created_before: datetime
) -> StoredRun | None:
    """The newest run against champion ``version`` that decided ``retrain`` and was
    recorded before ``created_before`` (wall clock), or None."""
    runs = store.table(RUNS_TABLE)
    query = (
        sa.select(runs)
        .where(
            runs.c.model == model,
            runs.c.champion_version == version,
            runs.c.decision == "retrain",
            runs.c.created_at <= utc_datetime(created_before),
        )
        .order_by(runs.c.created_at.desc(), runs.c.id.desc())
        .limit(1)
    )
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    return _stored(row) if row is not None else None
