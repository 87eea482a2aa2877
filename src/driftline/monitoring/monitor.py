"""A monitor run: read a window of the inference log, resolve the champion's baseline,
attribute each row to the model version that made it, check drift, decide, store the
run, save the report.

:func:`run_monitor` is the heart (a store, a spec and a baseline in; a :class:`MonitorRun`
out); :func:`monitor_models` runs many windows of many models on one store. Opening the
store from settings by model name is the edge's job (:mod:`driftline.sdk`). Problems
with the data or the infrastructure never escape as exceptions here: they become a
failed run, recorded with its message, so one broken monitor never stops the others.
"""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import exc as sa_exc

from driftline.config.errors import DataError, DriftlineError, ProfileError, StoreError
from driftline.config.faults import checkpoint
from driftline.config.markup import markdown_text
from driftline.config.progress import Progress, Step, no_progress
from driftline.config.secrets import scrub
from driftline.config.times import naive_utc, utc_datetime, utc_now
from driftline.data import claims
from driftline.data.store import Store
from driftline.data.windows import (
    PerformanceWindow,
    performance_window,
    read_labelled,
    read_window,
    window_bounds,
)
from driftline.lifecycle.audit import champion_takeovers
from driftline.lifecycle.baseline import Baseline
from driftline.monitoring.attribution import ChampionInterval, champion_intervals, made_by
from driftline.monitoring.check import _baseline_ranges, check_drift
from driftline.monitoring.engines import ENGINES, DriftEngine
from driftline.monitoring.engines.evidently import share_viewer
from driftline.monitoring.evidence import acknowledged_drift, champion_since, locate_change
from driftline.monitoring.multivariate import domain_classifier_drift
from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.policy import Decision, decide_action, failed, insufficient_data
from driftline.monitoring.results import DriftResult, combine_reports
from driftline.monitoring.retention import prune_reports
from driftline.monitoring.runs import history, record_run
from driftline.monitoring.segments import SegmentSnapshot, check_segments, segment_columns
from driftline.monitoring.windowprofile import (
    WindowProfile,
    check_profile,
    fits,
    require_edges,
    require_window,
    run_window_end,
)
from driftline.specs import CalendarEvent, ModelSpec, Monitoring
from driftline.tasks import task_for
from driftline.tasks.estimation import estimator_inputs

log = logging.getLogger(__name__)

BaselineSource = Baseline | Callable[[], Baseline]
#: The baseline of a model's champion now.
BaselineLoader = Callable[[ModelSpec], Baseline]
#: The baseline of one registered version of a model (BaselineError when it has none).
VersionLoader = Callable[[ModelSpec, str], Baseline]
FAILURES_FILE = "monitor-failures.jsonl"
#: How long a monitor run may hold its window's retrain decision before recording the
#: run; a run that died holding it longer is taken over by the next one.
DECISION_LEASE = timedelta(minutes=15)


@dataclass(frozen=True)
class MonitorRun:
    """One monitor run: the window, what was found, what the policy decided, where the
    report is. ``run_id`` is None only when the store itself could not be written."""

    model: str
    window_start: datetime
    window_end: datetime
    decision: Decision
    result: DriftResult | None = None
    champion_version: str | None = None
    run_id: int | None = None
    report_paths: tuple[Path, ...] = ()
    error: str | None = None
    rows: int | None = None
    project_id: str | None = None
    snapshot_ids: tuple[str, ...] = ()

    @property
    def snapshot_id(self) -> str | None:
        """The drift snapshot in the model's Evidently project (None when not added)."""
        return self.snapshot_ids[0] if self.snapshot_ids else None

    @property
    def status(self) -> str:
        return self.decision.status

    @property
    def action(self) -> str:
        return self.decision.action

    @property
    def report_path(self) -> Path | None:
        return self.report_paths[0] if self.report_paths else None

    def summary(self) -> dict[str, Any]:
        """Plain JSON-ready values for flows, artifacts, events and the demo's timeline."""
        perf = self.result.performance if self.result is not None else None
        return {
            "model": self.model,
            "run_id": self.run_id,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "status": self.status,
            "decision": self.action,
            "severity": self.decision.severity,
            "drift_share": self.decision.drift_share,
            "drifted_columns": list(self.decision.drifted_columns),
            "prediction_drift": self.result.prediction_drift if self.result else None,
            "quality_issues": (  # those that count (not an event's expected ones)
                sum(not self.decision.expects(q) for q in self.result.quality)
                if self.result
                else None
            ),
            "realized": dict(perf.metrics) if perf is not None else None,
            "realized_version": perf.version if perf is not None else None,
            "realized_cohort": perf.cohort if perf is not None else None,
            "realized_other_versions": {
                p.version: dict(p.metrics)
                for p in (self.result.other_performance if self.result else ())
            },
            "score_version": self.result.prediction_version if self.result else None,
            "segments_drifted": (
                {
                    s.label: s.counted_columns(self.decision.expected_columns)
                    for s in self.result.segments.counted(self.decision.expected_columns)
                }
                if self.result is not None and self.result.segments is not None
                else None
            ),
            "multivariate_auc": (
                self.result.multivariate.auc
                if self.result is not None and self.result.multivariate is not None
                else None
            ),
            "estimated": (
                self.result.estimated.to_dict() if self.result and self.result.estimated else None
            ),
            "estimated_labelled": (
                self.result.estimated_labelled.to_dict()
                if self.result and self.result.estimated_labelled
                else None
            ),
            "reasons": list(self.decision.reasons),
            "headline": self.decision.headline,
            "triggers": list(self.decision.triggers),
            "retrain_reason": self.decision.retrain_reason,
            "change_point": (
                self.decision.change_point.isoformat() if self.decision.change_point else None
            ),
            "champion_version": self.champion_version,
            "rows": self.rows,
            "report_path": str(self.report_path) if self.report_path else None,
            "evidently_project_id": self.project_id,
            "snapshot_id": self.snapshot_id,
            "error": self.error,
        }

    def column_rows(self) -> list[dict[str, Any]]:
        """One row per tested column (the score last), for tables."""
        if self.result is None:
            return []
        predictions = self.result.predictions
        columns = [*self.result.columns, *predictions]
        counted = set(self.decision.drifted_columns)
        expected = set(self.decision.expected_columns)
        return [
            {
                "column": c.name,
                "role": "prediction" if c in predictions else "feature",
                "type": c.type,
                "method": c.method,
                "score": round(c.score, 6),
                "threshold": c.threshold,
                "drifted": c.drifted,
                "counted": c.name in counted
                or (c in predictions and c.drifted and c.name not in expected),
                "missing_share": round(c.missing_share, 4),
            }
            for c in columns
        ]

    def markdown(self, report_url: str | None = None) -> str:
        """A short human summary of the run (Prefect artifact, alerts, notes), linking
        ``report_url`` (the snapshot in the Evidently UI) when given. Every value that
        comes from data or an error is escaped (:func:`markdown_text`): it shows as text,
        never as a tag, link or script."""
        d = self.decision
        md = markdown_text
        window = f"{self.window_start:%Y-%m-%d %H:%M} to {self.window_end:%Y-%m-%d %H:%M} UTC"
        lines = [
            f"# {md(self.model)}: {md(d.status)}, decision **{md(d.action)}** "
            f"(severity {md(d.severity)})",
            "",
            f"- window: {window}",
            f"- champion version: {md(self.champion_version or 'unknown')}",
            f"- rows: {self.rows if self.rows is not None else 'unknown'}",
        ]
        if d.drift_share is not None:
            lines.append(f"- drift share: {d.drift_share:.0%}")
        if d.drifted_columns:
            lines.append(f"- drifted columns: {', '.join(md(c) for c in d.drifted_columns)}")
        if d.expected_columns:
            lines.append(
                f"- {md(d.expected_label)} (recorded): "
                + ", ".join(md(c) for c in d.expected_columns)
            )
        perf = self.result.performance if self.result is not None else None
        if perf is not None and perf.metrics:
            shown = ", ".join(
                f"{md(k)} {v:.3f} (validation {perf.baseline[k]:.3f})"
                if k in perf.baseline
                else f"{md(k)} {v:.3f}"
                for k, v in perf.metrics.items()
            )
            whose = f" (predictions of champion v{md(perf.version)})" if perf.version else ""
            cohort = f" (cohort {md(perf.cohort)})" if perf.cohort else ""
            lines.append(
                f"- realized{whose}{cohort}: {shown} on {perf.labelled_rows} labelled predictions"
            )
        for other in self.result.other_performance if self.result is not None else ():
            shown = ", ".join(f"{md(k)} {v:.3f}" for k, v in other.metrics.items()) or "no metrics"
            lines.append(
                f"- realized (predictions of v{md(other.version)}, not judged): {shown} on "
                f"{other.labelled_rows} labelled predictions"
            )
        segments = self.result.segments if self.result is not None else None
        expected = self.decision.expected_columns
        for seg in segments.counted(expected) if segments is not None else []:
            lines.append(
                f"- segment {md(seg.value)} ({md(seg.column)}): "
                f"{', '.join(md(c) for c in seg.counted_columns(expected))} drifted"
            )
        joint = self.result.multivariate if self.result is not None else None
        if joint is not None:
            lines.append(
                f"- multivariate: domain classifier ROC AUC {joint.auc:.3f} (threshold "
                f"{joint.threshold:g}){', drifted' if joint.drifted else ''}; separating "
                f"features: {md(joint.separating())}"
            )
        est = self.result.estimated if self.result is not None else None
        if est is not None and est.metrics:
            shown = ", ".join(md(est.text(m)) for m in est.metrics)
            lines.append(f"- {md(est.method)}, no labels yet, {est.rows:,} predictions: {shown}")
        matured = self.result.estimated_labelled if self.result is not None else None
        if matured is not None and matured.realized:
            shown = "; ".join(md(matured.text(m)) for m in matured.metrics if m in matured.realized)
            lines.append(f"- labelled window ({matured.rows:,} predictions): {shown}")
        if report_url is not None:
            lines.append(f"- report: [Evidently snapshot]({report_url})")
        if self.report_path is not None:
            shown = str(self.report_path).replace("`", "")  # a code span: shown, never rendered
            lines.append(f"- report file (path on the monitoring host): `{shown}`")
        if self.run_id is not None:
            lines.append(f"- stored as monitor run {self.run_id}")
        lines += ["", "## Why", "", *(f"- {md(r)}" for r in d.reasons)]
        return "\n".join(lines)


# -- one run -------------------------------------------------------------------------------


def run_monitor(
    store: Store,
    spec: ModelSpec,
    baseline: BaselineSource,
    window_end: datetime | str | None = None,
    *,
    reports_dir: Path | None = None,
    workspace_dir: Path | None = None,
    engine: DriftEngine | None = None,
    promoted_at: datetime | None = None,
    now: datetime | None = None,
    baseline_of: Callable[[str], Baseline] | None = None,
    profile: WindowProfile | None = None,
    backfill: bool = False,
) -> MonitorRun:
    """Monitor one window of ``spec``'s model against ``baseline`` and record the run.
    ``backfill``: the run records history only and its alert is never sent (the policy
    then counts a calendar event as announced by any earlier window that raised it).

    ``baseline`` may be a callable (resolved after the window is read, so a missing
    champion becomes a failed run). Reports go under ``reports_dir/<model>/``, snapshots
    into the Evidently workspace at ``workspace_dir`` (both optional).

    Each row of the window and of the labelled performance window is attributed to the
    model version that made it (:mod:`driftline.monitoring.attribution`: the logged
    version, else the champion of the audit trail at the row's time). Rows no known
    version made are never tested: a window with fewer than ``min_rows`` others is
    ``insufficient_data``. ``baseline_of(version)`` gives other versions' baselines (their
    score reference and validation metrics, see :func:`check_drift`); without it, or when
    it raises, those versions are checked without them.

    The policy also gets what the store knows beyond the window
    (:mod:`driftline.monitoring.evidence`): when the champion took over (``promoted_at``
    overrides it), the drift a rejected challenger showed to be harmless, and, for a
    retrain decision, where the regime changed and how many labelled rows exist after it.

    ``profile``, a window profile (:mod:`driftline.monitoring.windowprofile`), stands in
    for the window's rows: the drift check runs on it, the rest of the run as above
    (labelled rows still come from the store); ``window_end`` defaults to the window the
    profile records. A profile that does not fit the spec, the window or the champion's
    reference bins raises ProfileError and nothing is recorded.
    """
    mon = spec.monitoring
    profile_plan = None
    if profile is not None:
        window_end = run_window_end(profile, window_end)
        profile_plan = fits(profile, spec)
    start, end = window_bounds(mon, window_end, now=now)
    if profile is not None:
        require_window(profile, start, end)
    version: str | None = None
    rows: int | None = None
    held: claims.Claim | None = None
    published = Published()
    try:
        window = None
        if profile is None:
            window = read_window(store, spec, start, end)
            rows = len(window)
        else:
            rows = profile.rows
        if not rows:
            raise DataError(
                f"the window {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC of "
                f"{spec.name} is empty: "
                + (
                    "no predictions were stored for it. Is ingestion running?"
                    if profile is None
                    else f"its profile {profile.source} counts no rows. Did the job that "
                    "profiles it read the right data?"
                )
            )
        resolved = baseline() if callable(baseline) else baseline
        version = resolved.version
        if profile is not None:
            assert profile_plan is not None
            require_edges(profile, resolved, profile_plan)
        past = history(store, spec.name, since=_history_start(spec, end), before=end)
        takeovers = champion_takeovers(store, spec.name)
        intervals = champion_intervals(takeovers, current=version)
        attributed = rows  # a profile does not say which version made a row: the champion
        if window is not None:
            window[spec.model.model_version] = made_by(window, spec, intervals)
            attributed = int(window[spec.model.model_version].notna().sum())
        result: DriftResult | None = None
        if attributed < mon.min_rows:
            decision = insufficient_data(attributed, mon.min_rows, unattributed=rows - attributed)
        else:
            labelled, cohort, matured = None, None, None
            if mon.performance.enabled:
                scored = performance_window(spec, end)
                cohort = scored.cohort
                # the segment columns only for the segment check (the one reader of them)
                labelled = read_labelled(
                    store,
                    spec,
                    scored.start,
                    scored.end,
                    as_of=end,
                    segments=mon.segments.enabled,
                )
                labelled[spec.model.model_version] = made_by(labelled, spec, intervals)
                if window is not None:  # the estimate on a profile is not made (no rows)
                    matured = _matured(store, spec, resolved, labelled, scored, intervals)
            others = _versions_in(spec, window, labelled) - {version}
            events = spec.calendar.active(start, end)
            if profile is not None:
                result = check_profile(
                    profile,
                    resolved,
                    spec,
                    labelled=labelled,
                    cohort=cohort,
                    baselines=_baselines(spec, others, baseline_of),
                    events=events,
                )
            else:
                assert window is not None
                checked_spec, reference, event_notes = event_reference(
                    store, spec, resolved, events
                )
                result = check_drift(
                    window,
                    reference,
                    checked_spec,
                    labelled=labelled,
                    engine=engine,
                    timestamp=end,
                    baselines=_baselines(spec, others, baseline_of),
                    cohort=cohort,
                    matured=matured,
                )
                result = replace(
                    extra_checks(result, window, reference, spec, labelled, events, timestamp=end),
                    notes=(*result.notes, *event_notes),
                )
            since = promoted_at or champion_since(store, spec.name, version, takeovers, end)
            judge = partial(
                decide_action,
                result,
                spec,
                past,
                window_end=end,
                champion_version=version,
                promoted_at=since,
                acknowledged=acknowledged_drift(store, spec.name, version),
                events=events,
                sends_alerts=not backfill,
            )
            decision = judge()
            if decision.action == "retrain":  # train on data after the change, once it exists
                decision = judge(
                    change=locate_change(
                        store, spec, decision, result, past, end, version, intervals
                    )
                )
            if decision.action == "retrain":
                held = claims.claim(
                    store, spec.name, decision_key(end), "a monitor run", lease=DECISION_LEASE
                )
                if not held.won:
                    decision = already_decided(decision, held)
                    held = None
            published = _publish(
                result,
                spec,
                start,
                end,
                reports_dir,
                workspace_dir,
                labels=_Labels(decision, version, resolved.metrics, since),
            )
        checkpoint("monitor:published")
        run_id = record_run(
            store,
            model=spec.name,
            window_start=start,
            window_end=end,
            decision=decision,
            result=result,
            champion_version=version,
            report_path=str(published.paths[0]) if published.paths else None,
            rows_current=rows,
        )
        if held is not None:
            claims.settle(store, held, "done", f"monitor run #{run_id} decided retrain")
        log.info("%s %s..%s: %s, %s", spec.name, start, end, decision.status, decision.action)
        return MonitorRun(
            spec.name,
            start,
            end,
            decision,
            result,
            version,
            run_id,
            published.paths,
            None,
            rows,
            published.project_id,
            published.snapshot_ids,
        )
    except Exception as exc:
        _release(store, held, exc)
        # reports and snapshots of a run that was never recorded would be orphans
        kept = _discard(published, workspace_dir)
        if isinstance(exc, ProfileError):  # the caller's input, not the window: not a run
            raise
        if published.paths or published.snapshot_ids:
            exc = _unrecorded(exc, spec.name, start, end, kept)
        return _failed_run(store, spec.name, start, end, exc, version=version, rows=rows)


def _discard(published: Published, workspace_dir: Path | None) -> list[str]:
    """Remove a run's HTML reports and Evidently snapshots; what could not be removed."""
    kept: list[str] = []
    for path in published.paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove %s: %s", path, exc)
            kept.append(str(path))
    if published.snapshot_ids and workspace_dir is not None:
        from driftline.ops.dashboards import open_workspace

        for snapshot_id in published.snapshot_ids:
            try:
                open_workspace(workspace_dir).delete_run(published.project_id, snapshot_id)
            except Exception as exc:
                log.warning("could not remove snapshot %s: %s", snapshot_id, exc)
                kept.append(f"snapshot {snapshot_id}")
    return kept


def _unrecorded(
    exc: Exception,
    model: str,
    start: datetime,
    end: datetime,
    kept: list[str],
) -> Exception:
    """The error of a run that failed after publishing its reports, saying that nothing of
    the run was kept (or what could not be removed)."""
    what = (
        "its reports and snapshots were removed, nothing of the run was kept"
        if not kept
        else f"these could not be removed: {', '.join(kept)}"
    )
    cause = _message(exc)
    if isinstance(exc, sa_exc.DBAPIError):
        cause = f"the connection to the store was lost ({type(exc.orig).__name__})"
    return StoreError(
        f"the monitor run of {model} for {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC "
        f"could not be recorded: {cause}; {what}. Run it again for that window "
        f"(`driftline monitor run --model {model} --window-end {end:%Y-%m-%dT%H:%M}`)."
    )


def event_reference(
    store: Store, spec: ModelSpec, baseline: Baseline, events: Sequence[CalendarEvent]
) -> tuple[ModelSpec, Baseline, tuple[str, ...]]:
    """The spec and baseline a window inside calendar ``events`` is checked with, and notes
    saying so. An event with ``reference: last_occurrence`` whose previous occurrence (the
    latest earlier event of the same name) left at least ``monitoring.min_rows`` rows in
    the store is compared with those rows instead of the baseline's reference; the score is
    then not tested (an earlier model may have made those rows). Otherwise the baseline
    stands."""
    for event in events:
        if event.reference != "last_occurrence":
            continue
        previous = spec.calendar.last_occurrence(event)
        if previous is None:
            return (
                spec,
                baseline,
                (
                    f"calendar event {event.name}: no earlier occurrence in the calendar; "
                    "compared with the baseline",
                ),
            )
        rows = read_window(store, spec, previous.start, previous.end)
        if len(rows) < spec.monitoring.min_rows:
            return (
                spec,
                baseline,
                (
                    f"calendar event {event.name}: its last occurrence "
                    f"({previous.start:%Y-%m-%d} to {previous.end:%Y-%m-%d}) left {len(rows)} rows "
                    f"in the store (fewer than monitoring.min_rows); compared with the baseline",
                ),
            )
        columns = [c for c in spec.column_types if c in rows.columns]
        mon = spec.monitoring
        quiet = mon.model_copy(
            update={"prediction_drift": mon.prediction_drift.model_copy(update={"enabled": False})}
        )
        checked = spec.model_copy(update={"monitoring": quiet})
        return (
            checked,
            replace(baseline, reference=rows[columns].reset_index(drop=True)),
            (
                f"calendar event {event.name}: compared with its last occurrence "
                f"({previous.start:%Y-%m-%d} to {previous.end:%Y-%m-%d}, {len(rows):,} rows), "
                "not the baseline; the score was not tested (an earlier model may have made "
                "those rows)",
            ),
        )
    return spec, baseline, ()


def extra_checks(
    result: DriftResult,
    window: pd.DataFrame,
    baseline: Baseline,
    spec: ModelSpec,
    labelled: pd.DataFrame | None,
    events: Sequence[CalendarEvent] = (),
    *,
    timestamp: datetime | None = None,
) -> DriftResult:
    """``result`` with the segment and multivariate checks the spec turns on
    (``monitoring.segments``, ``monitoring.multivariate``), on the window's rows a known
    model version made, against ``baseline``'s reference. Segment performance counts the
    champion's labelled predictions only; segments are tested by
    ``monitoring.segments.engine`` (not the window's engine). The columns calendar
    ``events`` expect to move are their own false-discovery family in the segment check
    and are left out of the multivariate check."""
    mon = spec.monitoring
    if not (mon.segments.enabled or mon.multivariate.enabled):
        return result
    version = spec.model.model_version
    current = window[window[version].notna()] if version in window.columns else window
    plan = DriftPlan.from_spec(spec)
    expected = {c for e in events for c in e.expected_columns}
    segments = joint = None
    if mon.segments.enabled:
        judged = labelled
        if labelled is not None and version in labelled.columns:
            judged = labelled[labelled[version] == baseline.version]
        segments = check_segments(
            baseline.reference,
            current,
            plan,
            mon.segments,
            segment_columns(mon.segments, spec.model.segments),
            ENGINES.get(mon.segments.engine),
            labelled=judged,
            task=task_for(spec.model),
            baseline_metrics=baseline.metrics,
            ranges=_baseline_ranges(baseline),
            timestamp=timestamp,
            expected=expected,
        )
    if mon.multivariate.enabled:
        columns = {c: k for c, k in plan.columns.items() if c not in expected}
        if columns:
            joint = domain_classifier_drift(baseline.reference, current, columns, mon.multivariate)
    report = result.report
    if segments is not None:  # the per-segment dashboard panel reads this snapshot
        report = combine_reports(report, "-segments", SegmentSnapshot(segments, timestamp))
    return replace(result, segments=segments, multivariate=joint, report=report)


def decision_key(window_end: datetime) -> str:
    """The claim key of a window's retrain decision: one per model and window end."""
    return f"retrain-decision:{utc_datetime(window_end).isoformat()}"


def already_decided(decision: Decision, held: claims.Claim) -> Decision:
    """A repeat run's decision for a window whose retrain another run already decided:
    its findings stand, but it decides nothing (no second retrain, no second alert)."""
    return replace(
        decision,
        action="none",
        reasons=(
            *decision.reasons,
            f"this window's retrain was already decided ({held.result or held.owner}); "
            "this run decides nothing again",
        ),
        triggers=(*decision.triggers, "already_decided"),
    )


def _release(store: Store, held: claims.Claim | None, exc: BaseException) -> None:
    """Give a window's retrain decision back when the run that held it failed."""
    if held is None:
        return
    try:
        claims.settle(store, held, "failed", f"the run failed: {_message(exc)}"[:500])
    except Exception as release_exc:  # the lease frees it later
        log.warning("could not release the retrain decision of %s: %s", held.key, release_exc)


def _matured(
    store: Store,
    spec: ModelSpec,
    baseline: Baseline,
    labelled: pd.DataFrame,
    scored: PerformanceWindow,
    intervals: Sequence[ChampionInterval],
) -> pd.DataFrame | None:
    """The predictions of the labelled window, with their features, when the champion's
    estimator reads features the labelled rows lack (DLE): the estimate on them is shown
    next to the realized metrics. None otherwise (CBPE reads the labelled rows' scores)."""
    estimator = baseline.estimator or {}
    if estimator.get("method") is None or labelled.empty:
        return None
    wanted = estimator_inputs(estimator)
    if all(c in labelled.columns for c in wanted):
        return None
    rows = read_window(store, spec, scored.start, scored.end)
    if not rows.empty:
        rows[spec.model.model_version] = made_by(rows, spec, intervals)
    return rows


def _versions_in(spec: ModelSpec, *frames: pd.DataFrame | None) -> set[str]:
    column = spec.model.model_version
    return {str(v) for f in frames if f is not None for v in f[column].dropna().unique()}


def _baselines(
    spec: ModelSpec, versions: set[str], baseline_of: Callable[[str], Baseline] | None
) -> dict[str, Baseline]:
    """The baselines of ``versions`` that can be read; a version whose baseline cannot be
    read is logged and left out (the check then says what it could not do)."""
    found: dict[str, Baseline] = {}
    if baseline_of is None:
        return found
    for version in sorted(versions):
        try:
            found[version] = baseline_of(version)
        except Exception as exc:  # a missing or unreadable version must not stop the run
            log.warning("%s: no baseline of version %s: %s", spec.name, version, _message(exc))
    return found


def _history_start(spec: ModelSpec, end: datetime) -> datetime:
    """How far back the policy looks: persistence, the cooldown, and a drift's onset up to
    the label delay plus a training and holdout window ago (a retrain may wait that long
    for labels after the change)."""
    mon, t = spec.monitoring, spec.training
    labels = timedelta(days=spec.model.label_delay_days + t.lookback_days + t.holdout_days)
    span = max(mon.window * mon.policy.persistence.of_last, mon.policy.cooldown, labels)
    return end - span - mon.window


#: In the file name of a report written with ``monitoring.report_detail: rows`` (plots
#: of single values), which ``driftline privacy forget`` deletes when a customer's rows
#: may be in it.
ROW_LEVEL_MARK = "-rows"


@dataclass(frozen=True)
class Published:
    """Where a run's report went: HTML files, and snapshots in an Evidently project."""

    paths: tuple[Path, ...] = ()
    project_id: str | None = None
    snapshot_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Labels:
    """What a run's snapshots are tagged with and the guides drawn beside them: the
    decision, the champion, its validation metrics and when it was promoted."""

    decision: Decision
    champion: str | None
    validation: dict[str, float]
    promoted_at: datetime | None


def _publish(
    result: DriftResult,
    spec: ModelSpec,
    start: datetime,
    end: datetime,
    reports_dir: Path | None,
    workspace_dir: Path | None,
    *,
    labels: _Labels | None = None,
) -> Published:
    """Save the HTML report(s) and add the snapshots to the model's workspace project,
    tagged with the decision (:func:`~driftline.ops.dashboards.snapshot_tags`), plus the
    run's guides snapshot (reference lines and the promotion marker of the dashboards)."""
    if result.report is None:
        return Published()
    paths: tuple[Path, ...] = ()
    project_id: str | None = None
    snapshot_ids: tuple[str, ...] = ()
    if reports_dir is not None:
        detail = ROW_LEVEL_MARK if spec.monitoring.report_detail == "rows" else ""
        name = f"{spec.name}-{end:%Y%m%dT%H%M}Z-{uuid.uuid4().hex[:8]}{detail}.html"
        paths = tuple(result.report.save_html(reports_dir / spec.name / name))
        try:  # one viewer script per folder instead of 3.5 MB in every page
            share_viewer(paths)
        except Exception as exc:  # the pages stay standalone, only larger
            log.warning("%s: reports keep their own viewer: %s", spec.name, exc)
    if workspace_dir is not None:
        from driftline.ops import dashboards

        label = f"{spec.name} {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
        tags: list[str] = []
        metadata: dict[str, str] = {}
        if labels is not None:
            d = labels.decision
            tags, metadata = dashboards.snapshot_tags(
                d.action, d.status, labels.champion, d.reasons[0] if d.reasons else None
            )
            if d.retrain_reason:
                tags.append(f"reason:{d.retrain_reason}")
        try:
            workspace = dashboards.open_workspace(workspace_dir)
            project, _ = dashboards.model_project(workspace, spec)
            add = result.report.add_to_workspace
            # a plugin engine's report written before tags existed takes three arguments
            labelled = "tags" in inspect.signature(add).parameters
            extra: dict[str, Any] = {"tags": tags, "metadata": metadata} if labelled else {}
            snapshot_ids = tuple(add(workspace, project.id, label, **extra))
            estimated = dashboards.add_estimate_snapshot(
                workspace, project.id, result, label, timestamp=end, tags=[spec.name, *tags]
            )
            snapshot_ids += (estimated,) if estimated else ()
            project_id = str(project.id)
            if labels is not None:
                promoted = labels.promoted_at is not None and (
                    utc_datetime(start) <= utc_datetime(labels.promoted_at) < utc_datetime(end)
                )
                guides = dashboards.guides_snapshot(
                    dashboards.guide_values(spec, labels.validation, promoted=promoted),
                    naive_utc(end),
                    [spec.name, *tags],
                )
                added = workspace.add_run(
                    project.id, guides, include_data=False, name=f"{label} guides"
                )
                snapshot_ids += (str(added.id),)  # removed with the run's other snapshots
        except Exception as exc:  # dashboards are a convenience; the run still counts
            log.warning("could not add %s to the Evidently workspace: %s", label, exc)
    return Published(paths, project_id, snapshot_ids)


def _message(exc: BaseException) -> str:
    """What a failed run records, logs and alerts: the error's text without secrets
    (``user:password@`` in URLs, webhook paths, ``token=`` values)."""
    if isinstance(exc, DriftlineError):
        return scrub(str(exc))
    return scrub(f"unexpected {type(exc).__name__}: {exc}")


def _failed_run(
    store: Store | None,
    model: str,
    start: datetime,
    end: datetime,
    exc: BaseException,
    *,
    version: str | None = None,
    rows: int | None = None,
    failures_file: Path | None = None,
) -> MonitorRun:
    """Record a run that could not check its window (in the store, or in a file when the
    store itself is the problem) and return it."""
    message = _message(exc)
    if isinstance(exc, DriftlineError):
        log.warning("monitor %s failed: %s", model, message)
    else:
        log.exception("monitor %s failed", model)
    decision = failed(message)
    run_id = None
    if store is not None:
        try:
            run_id = record_run(
                store,
                model=model,
                window_start=start,
                window_end=end,
                decision=decision,
                champion_version=version,
                error=message,
                rows_current=rows,
            )
        except Exception as store_exc:
            log.error("could not record the failed run of %s: %s", model, store_exc)
            message = f"{message} (not recorded in the store: {_message(store_exc)})"
            decision = failed(message)
    if run_id is None and failures_file is not None:
        _append_failure(failures_file, model, start, end, message)
    return MonitorRun(model, start, end, decision, None, version, run_id, (), message, rows)


def _append_failure(path: Path, model: str, start: datetime, end: datetime, message: str) -> None:
    record = {
        "model": model,
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "status": "failed",
        "error": message,
        "created_at": utc_now().isoformat(),
    }
    try:
        with path.open("a") as out:
            out.write(json.dumps(record) + "\n")
    except OSError as exc:
        log.error("could not write %s: %s", path, exc)


# -- many windows, many models -------------------------------------------------------------

#: The windows to monitor for a model: its spec in, window ends out (None = the latest).
WindowEnds = Callable[[ModelSpec | None], Sequence[datetime | str | None]]


def monitor_models(
    store: Store,
    models: Sequence[str],
    ends: WindowEnds,
    load_spec: Callable[[str], ModelSpec],
    load_baseline: BaselineLoader,
    *,
    reports_dir: Path | None = None,
    workspace_dir: Path | None = None,
    engine: DriftEngine | None = None,
    now: datetime | None = None,
    load_version: VersionLoader | None = None,
    progress: Progress | None = None,
    profile: WindowProfile | None = None,
    backfill: bool = False,
) -> list[MonitorRun]:
    """Monitor each model's windows in time order against its champion's baseline (resolved
    once per model, on first use). ``load_version`` reads other versions' baselines (each
    once per model). A model whose spec does not load becomes a failed run; one failure
    stops no other. ``progress`` hears of each window (task ``monitor <model>``, one unit
    per window) before and after it is checked. ``profile`` stands in for the rows of the
    one window of the one model asked for (see :func:`run_monitor`; ValueError for more).
    ``backfill``: history only, no run's alert is ever sent (see :func:`run_monitor`)."""
    report = progress or no_progress
    if profile is not None and (len(models) != 1 or len(ends(None)) != 1):
        raise ValueError("a window profile stands in for one window of one model")
    runs: list[MonitorRun] = []
    for model in models:
        try:
            spec = load_spec(model)
        except Exception as exc:
            start, end = window_bounds(Monitoring(), _first(ends(None)), now=now)
            runs.append(_failed_run(store, model, start, end, exc))
            continue
        resolve = _once(load_baseline, spec)
        versions = _cached(load_version, spec) if load_version is not None else None
        wanted = list(ends(spec))
        for done, window_end in enumerate(wanted):
            when = "latest window" if window_end is None else f"window ending {window_end}"
            report(Step(f"monitor {model}", done, len(wanted), when))
            runs.append(
                run_monitor(
                    store,
                    spec,
                    resolve,
                    window_end,
                    reports_dir=reports_dir,
                    workspace_dir=workspace_dir,
                    engine=engine,
                    now=now,
                    baseline_of=versions,
                    profile=profile,
                    backfill=backfill,
                )
            )
            report(Step(f"monitor {model}", done + 1, len(wanted), f"{runs[-1].status}"))
        _retain(spec, reports_dir, workspace_dir, runs[-1].window_end if runs else None)
    return runs


def _retain(
    spec: ModelSpec,
    reports_dir: Path | None,
    workspace_dir: Path | None,
    keep: datetime | None,
) -> None:
    """Apply the spec's ``reports:`` retention after the model's runs, sparing the window
    of the last run (``keep``: its report path was just printed); a failure is logged,
    never raised (the runs are recorded)."""
    if reports_dir is None and workspace_dir is None:
        return
    try:
        pruned = prune_reports(spec, reports_dir, workspace_dir, keep=keep)
    except Exception as exc:
        log.warning("%s: report retention not applied: %s", spec.name, _message(exc))
        return
    for problem in pruned.problems:
        log.warning("%s: report retention: %s", spec.name, problem)


def unreachable_store_runs(
    models: Sequence[str],
    ends: WindowEnds,
    exc: BaseException,
    failures_file: Path,
    *,
    now: datetime | None = None,
) -> list[MonitorRun]:
    """Failed runs for models whose store could not be opened, appended to
    ``failures_file`` (JSON lines) since the store cannot hold them."""
    start, end = window_bounds(Monitoring(), _first(ends(None)), now=now)
    return [_failed_run(None, m, start, end, exc, failures_file=failures_file) for m in models]


def _once(loader: BaselineLoader, spec: ModelSpec) -> Callable[[], Baseline]:
    """Resolve the baseline on first use, then reuse it (one registry read per model)."""
    cached: list[Baseline] = []

    def resolve() -> Baseline:
        if not cached:
            cached.append(loader(spec))
        return cached[0]

    return resolve


def _cached(loader: VersionLoader, spec: ModelSpec) -> Callable[[str], Baseline]:
    """Read each version's baseline once (one registry read per version and model); a
    failure is not cached, so the next window tries again."""
    cache: dict[str, Baseline] = {}

    def baseline_of(version: str) -> Baseline:
        if version not in cache:
            cache[version] = loader(spec, version)
        return cache[version]

    return baseline_of


def _first(values: Sequence[datetime | str | None]) -> datetime | str | None:
    return values[0] if values else None


def timeline_row(run: MonitorRun, action_taken: str | None = None) -> dict[str, Any]:
    """One row of a monitoring timeline: day, status, drift share, decision, action."""
    share = run.decision.drift_share
    return {
        "day": f"{run.window_start:%Y-%m-%d}",
        "status": run.status,
        "drift_share": round(share, 3) if share is not None else None,
        "decision": run.action,
        "action": action_taken or ("-" if run.action == "none" else run.action),
        "columns": ", ".join(run.decision.drifted_columns),
    }
