"""From a monitor run to an alert: what people hear about a window.

A run whose decision is ``alert`` or ``retrain`` becomes a finding (``performance``,
``quality`` or ``drift``, in that order of precedence); a failed run becomes
``flow_failed``. Quiet windows and windows too small to judge raise nothing. The alerts
outbox then applies the model's ``alerts:`` section (minimum severity, repeat
suppression) and delivers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from driftline.alerts.delivery import Destinations
    from driftline.alerts.message import Alert
    from driftline.alerts.outbox import NotifyResult
    from driftline.data.store import Store
    from driftline.monitoring.monitor import MonitorRun
    from driftline.monitoring.results import ColumnDrift
    from driftline.specs import ModelSpec

_SUMMARY_MAX = 1500
_MAX_SEGMENT_FACTS = 5


def _strength(column: ColumnDrift) -> float:
    """How far past its threshold a column is (for "most drifted first"); the engine that
    scored the column said whether its score is a p-value."""
    if column.p_value:
        return column.threshold / max(column.score, 1e-300)
    return column.score / column.threshold if column.threshold else column.score


def alert_for(
    run: MonitorRun,
    spec: ModelSpec | None = None,
    *,
    flow_run_url: str | None = None,
    evidently_ui: str | None = None,
) -> Alert | None:
    """The alert a monitor run raises, or None when it raises nothing. ``flow_run_url``
    (the Prefect flow run that monitored, when known) becomes the message's link; the
    run's snapshot is linked under ``evidently_ui`` (the Evidently UI's public address),
    and the HTML report's path is given only when there is no such link."""
    from driftline.alerts.message import (
        POLICY_SEVERITY,
        Alert,
        FeatureDrift,
        Finding,
        Links,
        Severity,
        Window,
    )
    from driftline.config.links import public_url, snapshot_url
    from driftline.monitoring.policy import segment_drops

    flow_run = public_url(flow_run_url)

    d = run.decision
    if run.status == "failed":
        return Alert(
            model=run.model,
            kind="flow_failed",
            severity=Severity.WARNING,
            title=f"Monitor run failed for {run.window_start:%Y-%m-%d %H:%M} UTC window",
            summary=(run.error or "the window could not be checked")[:_SUMMARY_MAX],
            window=Window(start=run.window_start, end=run.window_end),
            decision=d.action,
            rows=run.rows,
            links=Links(flow_run=flow_run),
        )
    if d.action == "none" or run.result is None:
        return None
    result = run.result
    triggers = set(d.triggers)
    if d.findings == ["calendar_event"]:
        # a declared event's first window with nothing else to say: one informational
        # event alert, outside min_severity (a lifecycle event, not a finding)
        return Alert(
            model=run.model,
            kind="calendar_event",
            severity=Severity.INFO,
            title=f"Calendar event {' and '.join(d.events)}: expected drift recorded, not counted",
            summary="\n".join(d.reasons)[:_SUMMARY_MAX],
            window=Window(start=run.window_start, end=run.window_end),
            decision=d.action,
            rows=run.rows,
            facts=_facts(run, "calendar_event"),
            links=Links(
                report=snapshot_url(evidently_ui, run.project_id, run.snapshot_id),
                report_file=str(run.report_path) if run.report_path else None,
                flow_run=flow_run,
            ),
        )
    counted = [c for c in result.columns if c.name in set(d.drifted_columns)]
    counted += [p for p in result.predictions if p.drifted and p.name not in d.expected_columns]
    features = [
        FeatureDrift(column=c.name, method=c.method, score=c.score, threshold=c.threshold)
        for c in sorted(counted, key=_strength, reverse=True)
    ]
    quality = [
        Finding(
            name=f"{q.rule}: {q.column}" + (f" ({d.expected_label})" if d.expects(q) else ""),
            detail=q.detail,
            value=q.share,
            threshold=q.limit,
        )
        for q in sorted(result.quality, key=d.expects)  # the counted findings first
    ]
    performance = []
    perf = result.performance
    allowed = spec.monitoring.performance.max_drop if spec is not None else {}
    if perf is not None and "performance_drop" in triggers:
        # Only the champion's own predictions are judged; say which version they are.
        whose = f" of v{perf.version}" if perf.version else ""
        for metric, value in perf.metrics.items():
            drop = perf.drop(metric)
            if drop is None or metric not in allowed or drop <= allowed[metric]:
                continue
            cohort = f" (cohort {perf.cohort})" if perf.cohort else ""
            performance.append(
                Finding(
                    name=f"realized {metric}{whose}{cohort}",
                    detail=f"{value:.3f} against validation {perf.baseline[metric]:.3f} "
                    f"on {perf.labelled_rows} labelled predictions{whose}{cohort}"
                    + ("" if perf.higher(metric) else f" ({metric}: lower is better)"),
                    value=value,
                    threshold=perf.limit(metric, allowed[metric]),
                )
            )
    est = result.estimated
    estimated_allowed = spec.monitoring.performance.estimated.max_drop if spec is not None else {}
    if est is not None and "estimated_performance_drop" in triggers:
        for metric, value in est.metrics.items():
            drop = est.drop(metric)
            if drop is None or metric not in estimated_allowed or drop <= estimated_allowed[metric]:
                continue
            base, allowed_drop = est.reference[metric], estimated_allowed[metric]
            performance.append(
                Finding(
                    name=f"estimated {metric} ({est.method}, no labels yet)",
                    detail=f"{est.text(metric)} against validation {base:.3f} on "
                    f"{est.rows:,} predictions",
                    value=value,
                    threshold=base - allowed_drop if est.higher(metric) else base + allowed_drop,
                )
            )
    if "segment_performance_drop" in triggers and spec is not None and result.segments:
        for seg in result.segments.segments:
            seg_perf = seg.performance
            if seg_perf is None:
                continue
            for metric in segment_drops(seg, spec):
                performance.append(
                    Finding(
                        name=f"realized {metric} in {seg.label}",
                        detail=f"{seg_perf.metrics[metric]:.3f} against validation "
                        f"{seg_perf.baseline[metric]:.3f} on {seg_perf.labelled_rows} labelled "
                        "predictions of the segment",
                        value=seg_perf.metrics[metric],
                        threshold=seg_perf.limit(metric, allowed[metric]),
                    )
                )
    drifted = len(d.drifted_columns)
    # the kind and title of the window's leading finding; each kind of finding has its own
    # dedupe key, so a repeat of one never suppresses another within the cooldown
    kind: Literal["performance", "quality", "drift"]
    key = ""  # the default, <model>:<kind>
    if "performance_drop" in triggers:
        kind, title = "performance", "Realized performance fell below the champion's validation"
    elif "estimated_performance_drop" in triggers:
        kind = "performance"
        title = "Estimated performance fell below the champion's validation (no labels yet)"
    elif "data_quality" in triggers:
        columns = sorted({q.column for q in result.quality if not d.expects(q)})
        kind, title = "quality", f"Data-quality problems in {len(columns)} columns"
    elif triggers & {"dataset_drift", "critical_feature", "drift_acknowledged"}:
        kind, title = "drift", f"Drift in {drifted} of {len(result.columns)} features"
    elif "multivariate_drift" in triggers:
        kind, title = "drift", "Multivariate drift: the joint distribution moved"
    elif "segment_performance_drop" in triggers:
        kind, key = "performance", f"{run.model}:performance:segments"
        names = _segment_names(run, spec, performance=True)
        title = "Realized performance fell in " + (
            f"segments: {', '.join(names)}" if names else "a segment"
        )
    elif "segment_drift" in triggers:
        kind, key = "drift", f"{run.model}:drift:segments"
        title = f"Drift in segments: {', '.join(_segment_names(run, spec))}"
    else:
        kind, title = "drift", "The model's score drifted"
    if kind == "drift" and "drift_acknowledged" in triggers:
        title = "Drift acknowledged: no better model"
    if d.action == "retrain":
        title += " (retrain)"
    elif "retrain_recommended" in triggers:
        title += " (retrain recommended)"
    elif "retrain_pending" in triggers:
        title += " (retrain pending)"
    return Alert(
        model=run.model,
        kind=kind,
        severity=Severity(POLICY_SEVERITY[d.severity]),
        title=title,
        summary="\n".join(d.reasons)[:_SUMMARY_MAX],
        window=Window(start=run.window_start, end=run.window_end),
        decision=d.action,
        drift_share=d.drift_share,
        columns_drifted=drifted,
        columns_total=len(result.columns),
        rows=run.rows,
        drifted_features=features,
        quality=quality,
        performance=performance,
        facts=_facts(run, kind, spec),
        links=Links(
            report=snapshot_url(evidently_ui, run.project_id, run.snapshot_id),
            report_file=str(run.report_path) if run.report_path else None,
            flow_run=flow_run,
        ),
        dedupe_key=key,
    )


def _segment_names(
    run: MonitorRun, spec: ModelSpec | None, *, performance: bool = False
) -> list[str]:
    """Segment values with drifted columns that count (after false-discovery control,
    without a calendar event's expected columns), or with ``performance``, those whose
    realized performance fell (needs the spec's rules)."""
    from driftline.monitoring.policy import segment_drops

    report = run.result.segments if run.result is not None else None
    if report is None:
        return []
    if performance:
        return [s.value for s in report.segments if spec is not None and segment_drops(s, spec)]
    return [s.value for s in report.counted(run.decision.expected_columns)]


def _facts(run: MonitorRun, kind: str, spec: ModelSpec | None = None) -> dict[str, str]:
    """The champion, and which version made the predictions a finding is about when that
    is not simply the champion's whole window; the calendar event and the segments with
    findings (drifted columns that count; metrics that fell, with the ``spec``)."""
    from driftline.monitoring.policy import segment_drops

    facts = {"Champion": f"v{run.champion_version}"} if run.champion_version else {}
    d = run.decision
    if d.retrain_reason and (d.action == "retrain" or "retrain_pending" in d.triggers):
        facts["Retrain reason"] = d.retrain_reason
    if d.change_point is not None:
        facts["Trains on data after"] = f"{d.change_point:%Y-%m-%d %H:%M} UTC"
    result = run.result
    perf = result.performance if result is not None else None
    if kind == "performance" and perf is not None and perf.version:
        facts["Realized performance of"] = f"v{perf.version}'s predictions"
    version = result.prediction_version if result is not None else None
    if version and version != run.champion_version:
        facts["Score tested"] = f"v{version}'s predictions, against v{version}'s reference"
    expected = d.expected_columns
    if expected and kind != "calendar_event":
        # the window is inside a declared event: say so beside the findings that counted
        facts["Calendar event"] = (
            f"{' and '.join(d.events)}: drift on its declared columns "
            f"({', '.join(expected)}) recorded, not counted"
        )
    report = result.segments if result is not None else None
    shown = 0
    for segment in report.segments if report is not None else ():
        said = []
        if counted := segment.counted_columns(expected):
            said.append(", ".join(counted) + " drifted")
        if fell := (segment_drops(segment, spec) if spec is not None else []):
            said.append(", ".join(fell) + " fell")
        if said and shown < _MAX_SEGMENT_FACTS:
            facts[f"Segment {segment.value}"] = "; ".join(said)
            shown += 1
    joint = result.multivariate if result is not None else None
    if joint is not None and joint.drifted:
        facts["Multivariate drift"] = (
            f"domain classifier ROC AUC {joint.auc:.3f}; separating features: " + joint.separating()
        )
    return facts


def notify_run(
    store: Store,
    run: MonitorRun,
    spec: ModelSpec | None,
    destinations: Destinations,
    *,
    flow_run_url: str | None = None,
    evidently_ui: str | None = None,
) -> NotifyResult | None:
    """Put the run's alert (if any) in the outbox and send what is due; None when the
    run raises nothing. Delivery problems stay in the outbox, never raise. An alert
    queued for sending (not skipped, not suppressed as a repeat) is noted on the stored
    run (:func:`driftline.monitoring.runs.record_alert`): what the policy counts as an
    announced calendar event."""
    from driftline.alerts.outbox import notify
    from driftline.monitoring.runs import record_alert

    alert = alert_for(run, spec, flow_run_url=flow_run_url, evidently_ui=evidently_ui)
    if alert is None:
        return None
    result = notify(store, alert, spec.alerts if spec is not None else None, destinations)
    if run.run_id is not None and result.enqueued.pending:
        record_alert(store, run.run_id, alert.alert_id)
    return result
