"""The decision policy: one window's findings plus the monitor's history -> a Decision.

Pure functions, no I/O: the same inputs always give the same decision, so every rule is
tested in milliseconds. The rules, in order of precedence:

1. Too few rows: ``insufficient_data``, never a drift verdict.
2. False discovery control: when at least ``fdr.min_columns`` columns were tested with
   p-value methods, only the columns Benjamini-Hochberg rejects at ``fdr.alpha`` count.
3. Input drift = drift share at or above ``drift.drift_share``, or any critical feature.
4. A realized-performance drop beyond ``performance.max_drop`` asks for a retrain on its
   own: concept drift shows in labels, not in inputs, and needs no persistence.
   4b. An *estimated* drop (CBPE, DLE; no labels yet) beyond
   ``performance.estimated.max_drop`` alerts at medium severity
   (``estimated_performance_drop``), so people can act before labels arrive; the realized
   drop, once labels confirm it, is critical and asks for the retrain. Only the
   champion's own predictions are judged, against the champion's validation metrics;
   other versions' realized performance (a predecessor's predictions still maturing after
   a promotion) is reported in the reasons and never alarms: a retrain replaces the
   champion, so only the champion's performance can ask for one.
   4c. With ``performance.estimated.retrain`` (off by default), an estimated drop that
   *lasted* asks for a retrain at high severity (``persistent_estimated_drop``), below a
   realized drop's critical: counted like input drift (``policy.persistence``, over
   earlier windows against the same champion whose triggers include
   ``estimated_performance_drop``, without data-quality problems). Its reason is
   ``drift``: CBPE and DLE see only covariate shift, so an estimate falls because the
   inputs moved into regions where the champion does worse. A challenger trained on data
   after such a drop and rejected as no better acknowledges it (:class:`Acknowledged`
   ``estimated``): the estimate keeps alerting but asks for no more retrains.
5. Input drift asks for a retrain only when it persisted (``required`` of the windows in
   the last ``of_last`` window lengths, this one included, against the same champion).
   Drift that was *acknowledged* (a challenger trained on the drifted data was rejected
   as no better, :class:`Acknowledged`) asks for nothing while it stays on the same
   columns: one low alert says so, later windows only note it. Drift that would count
   without those columns, or a performance drop, is judged afresh.
6. No retrain during the cooldown after a retrain decision or a new champion (the first
   window monitored against it, ``promoted_at``: every promotion, adoption and rollback,
   the bootstrap champion included); broken data-quality rules block retraining too
   (``data_quality.block_retrain``). Both turn a retrain into an alert and say why.
7. ``policy.retrain: never`` (monitor only) turns a retrain that survived rule 6 into an
   alert with the trigger ``retrain_recommended``: the reasons say why a retrain would
   have started, and nothing is trained. (``approve`` still decides ``retrain``; the
   approval is asked for by the promotion gates.)
8. A retrain trains on data after the change (:class:`ChangePoint`): until enough
   labelled rows after it have matured for ``training.min_rows`` and a holdout, the
   decision is an alert, ``retrain_pending`` ("N of M labelled rows after the change"),
   and no cooldown starts; the retrain fires on the first window that has them.
9. Prediction drift or broken data-quality rules alone alert.
10. Multivariate drift (the domain classifier's cross-validated ROC AUC at or above
    ``multivariate.threshold``) is input drift, like a critical feature: it alerts and
    counts toward persistence, so a lasting joint shift asks for a retrain.
11. Segment drift (a segment column that drifted after Benjamini-Hochberg across every
    segment x column, or a segment whose realized performance fell beyond ``max_drop``)
    alerts, naming the segment; it is not input drift of the window and never retrains
    on its own (one segment is a part of the traffic; the whole window's rules decide).
12. Calendar events (``calendar.events``) active in the window: drift, out-of-range
    values and unseen categories on an event's ``expected_columns`` are recorded and
    shown but count toward no finding, persistence or retrain (the multivariate check
    leaves those columns out too); each event raises one low, informational
    ``calendar_event`` finding until a window's alert announced it (queued in the
    outbox: :attr:`PastRun.alerted`; a backfill sends no alert, so it never announces),
    later windows only note it. Other columns are judged as usual.

Every wished-for retrain carries its reason: ``performance`` when realized performance
dropped (it wins when input drift or an estimated drop lasted too), else ``drift``
(lasting input drift or a lasting estimated drop).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import pandas as pd

from driftline.config.times import utc
from driftline.monitoring.results import DriftResult, QualityFinding, SegmentResult
from driftline.specs import CalendarEvent, ModelSpec, Persistence
from driftline.tasks import task_for

Action = Literal["none", "alert", "retrain"]
#: Why the policy asks for a retrain (the vocabulary of every reason is
#: :data:`driftline.lifecycle.training.REASONS`).
RetrainReason = Literal["drift", "performance"]
Status = Literal["ok", "drift", "insufficient_data", "failed"]
Severity = Literal["none", "low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("none", "low", "medium", "high", "critical")
#: The trigger of an estimated drop beyond ``performance.estimated.max_drop`` (rule 4b).
ESTIMATED_DROP = "estimated_performance_drop"
#: The trigger of an estimated drop that lasted and asks for a retrain (rule 4c).
LASTING_ESTIMATED_DROP = "persistent_estimated_drop"
#: The triggers that are findings of a window, with the words that name them (the other
#: triggers qualify a decision: persistence, cooldown, holds, a pending retrain, ...).
FINDINGS: dict[str, str] = {
    "performance_drop": "a realized performance drop",
    ESTIMATED_DROP: "an estimated performance drop",
    "data_quality": "data-quality problems",
    "dataset_drift": "dataset drift",
    "critical_feature": "a drifted critical feature",
    "multivariate_drift": "multivariate drift",
    "drift_acknowledged": "acknowledged drift",
    "segment_performance_drop": "a segment's performance drop",
    "segment_drift": "segment drift",
    "prediction_drift": "prediction drift",
    "calendar_event": "a calendar event",
}


@dataclass(frozen=True)
class PastRun:
    """What the policy needs to know about an earlier run of the same monitor.
    ``alerted``: its alert was queued in the alerts outbox (a backfilled run, or one
    monitored with ``--no-alert``, never alerted)."""

    window_end: datetime
    status: str
    action: str
    input_drift: bool
    quality_ok: bool = True
    champion_version: str | None = None
    triggers: tuple[str, ...] = ()
    alerted: bool = False


@dataclass(frozen=True)
class ChangePoint:
    """Where the current regime began, and how much labelled data exists after it.

    ``at`` is the first moment of the new regime (UTC): located by a change-point method
    on the daily realized metric for a performance drop, or the first window of a lasting
    input drift. ``rows`` counts the labelled, usable rows after ``at`` that have matured
    by the window's end; ``needed`` those a retrain on them needs (``training.min_rows``
    plus a holdout, :func:`driftline.data.windows.rows_needed_after`). ``how`` says in
    words how ``at`` was found.
    """

    at: datetime
    rows: int
    needed: int
    how: str = ""

    @property
    def ready(self) -> bool:
        return self.rows >= self.needed


@dataclass(frozen=True)
class Acknowledged:
    """Drift the policy stops retraining for: a challenger trained on data with drift on
    ``columns`` was rejected as no better (``version``, on ``rejected_at``, by the gates
    ``gates``) while the current champion served. ``estimated``: the retrain was asked for
    by a lasting estimated drop (rule 4c), which then asks for no more retrains."""

    columns: tuple[str, ...]
    version: str
    rejected_at: datetime
    gates: tuple[str, ...] = ()
    estimated: bool = False


@dataclass(frozen=True)
class Decision:
    """What to do about a window, how urgent it is, and why (in words people read).

    ``drifted_columns``, ``drift_share`` and ``dataset_drift`` count what the policy
    counted: without the columns a calendar event active in the window declared
    ``expected_columns`` (their drift is in the run's result, recorded and shown, never
    counted) and with false discovery control applied; ``dataset_drift`` is False when a
    rejected challenger acknowledged the drift (rule 5). ``events``: the names of the
    calendar events active in the window. ``headline``: the reason of the most severe
    finding (what a one-line summary shows; empty without a finding). ``quiet``: the
    triggers recorded for the history that raise nothing (said once already)."""

    action: Action
    severity: Severity
    status: Status
    reasons: tuple[str, ...]
    triggers: tuple[str, ...] = ()
    drifted_columns: tuple[str, ...] = ()
    drift_share: float | None = None
    input_drift: bool = False
    quality_ok: bool = True
    retrain_reason: RetrainReason | None = None
    change_point: datetime | None = None
    dataset_drift: bool = False
    expected_columns: tuple[str, ...] = ()
    headline: str = ""
    events: tuple[str, ...] = ()
    quiet: tuple[str, ...] = ()

    @property
    def findings(self) -> list[str]:
        """The triggers that are findings raising this decision (:data:`FINDINGS`, in its
        order; quiet ones left out)."""
        return [t for t in FINDINGS if t in self.triggers and t not in self.quiet]

    @property
    def expected_label(self) -> str:
        """How a finding on an expected column is labelled wherever it is shown:
        ``expected during flash_sale, not counted``."""
        during = " and ".join(self.events) if self.events else "a calendar event"
        return f"expected during {during}, not counted"

    def expects(self, finding: QualityFinding) -> bool:
        """Whether a data-quality finding is expected (recorded, not counted): an
        out-of-range value or unseen category on a column a calendar event active in the
        window declared (missing and infinite values always count)."""
        return _expected_finding(finding.column, finding.rule, set(self.expected_columns))

    def to_dict(self) -> dict[str, object]:
        return {
            "action": self.action,
            "severity": self.severity,
            "status": self.status,
            "reasons": list(self.reasons),
            "triggers": list(self.triggers),
            "drifted_columns": list(self.drifted_columns),
            "drift_share": self.drift_share,
            "input_drift": self.input_drift,
            "quality_ok": self.quality_ok,
            "retrain_reason": self.retrain_reason,
            "change_point": self.change_point.isoformat() if self.change_point else None,
            "dataset_drift": self.dataset_drift,
            "expected_columns": list(self.expected_columns),
            "headline": self.headline,
            "events": list(self.events),
            "quiet": list(self.quiet),
        }


def insufficient_data(rows: int, min_rows: int, *, unattributed: int = 0) -> Decision:
    """The decision for a window too small to judge: no drift verdict either way.

    ``rows`` counts the rows a known model version made; ``unattributed`` the window's
    other rows (logged before the first champion, or without a score), never monitored.
    """
    if unattributed:
        why = (
            f"only {rows} rows in the window were made by a known model version "
            f"({unattributed:,} more were logged before the first champion or without a "
            f"score, and are never monitored); at least {min_rows} are needed for a verdict "
            "(monitoring.min_rows)"
        )
    else:
        why = (
            f"only {rows} rows in the window; at least {min_rows} are needed for a verdict "
            "(monitoring.min_rows)"
        )
    return Decision(
        action="none",
        severity="none",
        status="insufficient_data",
        reasons=(why,),
        triggers=("insufficient_data",),
    )


def failed(message: str) -> Decision:
    """The decision recorded for a run that could not check its window."""
    return Decision(
        action="none", severity="high", status="failed", reasons=(message,), triggers=("failed",)
    )


def benjamini_hochberg(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Which hypotheses Benjamini-Hochberg rejects at false discovery rate ``alpha``."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    cutoff = 0
    for rank, i in enumerate(order, start=1):
        if p_values[i] <= alpha * rank / m:
            cutoff = rank
    rejected = [False] * m
    for i in order[:cutoff]:
        rejected[i] = True
    return rejected


@dataclass
class _Findings:
    reasons: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    severity: int = 0
    #: Triggers recorded for the history that raise no alert (said once already).
    quiet: set[str] = field(default_factory=set)
    #: The reason of the most severe finding (the first of them on a tie).
    headline: str = ""
    _top: int = -1

    def add(self, trigger: str, severity: Severity, reason: str) -> None:
        if trigger not in self.triggers:
            self.triggers.append(trigger)
        self.reasons.append(reason)
        rank = SEVERITIES.index(severity)
        if rank > self._top:
            self.headline, self._top = reason, rank
        self.severity = max(self.severity, rank)

    def note(self, reason: str) -> None:
        self.reasons.append(reason)


def effective_drift(
    result: DriftResult, spec: ModelSpec, expected: Collection[str] = ()
) -> tuple[list[str], list[str]]:
    """Drifted feature columns after false discovery control, and the columns FDR cleared.
    The ``expected`` columns of a calendar event are left out of the corrected family
    (their true discoveries would loosen the cut-off for the columns that count) and keep
    their engine verdict: they are recorded, never counted."""
    fdr = spec.monitoring.policy.fdr
    tested = [c for c in result.columns if c.p_value and c.name not in expected]
    cleared: list[str] = []
    if fdr.enabled and len(tested) >= fdr.min_columns:
        keep = benjamini_hochberg([c.score for c in tested], fdr.alpha)
        cleared = [c.name for c, k in zip(tested, keep, strict=True) if c.drifted and not k]
    drifted = [c.name for c in result.columns if c.drifted and c.name not in cleared]
    return drifted, cleared


def decide_action(
    result: DriftResult,
    spec: ModelSpec,
    history: Sequence[PastRun],
    *,
    window_end: datetime,
    champion_version: str | None = None,
    promoted_at: datetime | None = None,
    acknowledged: Acknowledged | None = None,
    change: ChangePoint | None = None,
    events: Sequence[CalendarEvent] = (),
    sends_alerts: bool = True,
) -> Decision:
    """Decide none / alert / retrain for one window (see the module docstring).

    ``events``: the calendar events active in the window (rule 12). ``sends_alerts``:
    whether this run's alert can go out (False in a backfill, which records history
    only): a run that sends alerts counts an event as announced only when an earlier
    window's alert was queued (:attr:`PastRun.alerted`); a backfill, or a model whose
    ``alerts:`` send nothing, counts every earlier window that raised it, as a live
    monitor would have.

    ``promoted_at``: when the champion took over, on the data clock (the end of the first
    window monitored against it). ``acknowledged``: drift a rejected challenger showed to
    be harmless (rule 5). ``change``: where the regime changed and the labelled rows
    after it (rule 8); without it a retrain decision carries no change point (the
    caller locates one and decides again, :func:`driftline.monitoring.monitor.run_monitor`).
    """
    mon = spec.monitoring
    if result.rows_current < mon.min_rows:
        return insufficient_data(result.rows_current, mon.min_rows)
    end = utc(window_end)
    found = _Findings()

    expected = {c for e in events for c in e.expected_columns}
    drifted, cleared = effective_drift(result, spec, expected)
    deliverable = sends_alerts and spec.alerts.enabled and bool(spec.alerts.channels)
    _events(events, history, end, drifted, result, expected, found, only_alerted=deliverable)
    drifted = [c for c in drifted if c not in expected]
    share = len(drifted) / len(result.columns) if result.columns else 0.0
    critical = [c for c in drifted if c in mon.critical_features]
    dataset_drift = share >= mon.drift.drift_share
    input_drift = dataset_drift or bool(critical)
    ack = _acknowledged(acknowledged, drifted, critical, len(result.columns), spec)
    quiet_ack = False
    acked = input_drift and ack is not None
    if acked and ack is not None:
        input_drift = dataset_drift = False
        critical = []
        text = (
            f"drift acknowledged: no better model. v{ack.version}, trained on data with "
            f"this drift, was rejected on {utc(ack.rejected_at):%Y-%m-%d} "
            f"({', '.join(ack.gates) or 'by the gates'}), so drift on "
            f"{', '.join(ack.columns)} asks for no retrain. A drift on other columns or a "
            "performance drop is judged afresh; to make a recent window the reference: "
            f"`driftline baseline refresh --model {spec.name} --window START..END` "
            "(or monitoring.policy.rebaseline: auto)"
        )
        if _announced(history, ack, end):
            quiet_ack = True
            found.triggers.append("drift_acknowledged")
            found.note(f"{len(drifted)} features drifted: {', '.join(drifted)}")
            found.note(text + " (said once, when it was acknowledged)")
        else:
            found.add("drift_acknowledged", "low", text)
    if cleared:
        found.note(
            f"false discovery control (Benjamini-Hochberg, q={mon.policy.fdr.alpha}) "
            f"cleared {len(cleared)} p-value columns: {', '.join(cleared)}"
        )
    if dataset_drift:
        found.add(
            "dataset_drift",
            "medium",
            f"{len(drifted)} of {len(result.columns)} features drifted ({share:.0%}, "
            f"threshold {mon.drift.drift_share:.0%}): {', '.join(drifted)}",
        )
    if critical:
        found.add("critical_feature", "medium", f"critical features drifted: {', '.join(critical)}")
    joint = result.multivariate
    if joint is not None and joint.drifted:
        input_drift = True
        found.add(
            "multivariate_drift",
            "medium",
            f"multivariate drift: a domain classifier tells the window from the reference "
            f"with ROC AUC {joint.auc:.3f} (threshold {joint.threshold:g}); features that "
            f"separate them most: {joint.separating()}",
        )
    elif joint is not None:
        found.note(
            f"no multivariate drift: domain classifier ROC AUC {joint.auc:.3f} "
            f"(threshold {joint.threshold:g})"
        )
    _segments(result, spec, expected, found)
    if drifted and not input_drift and not acked:
        found.note(
            f"{len(drifted)} features drifted ({share:.0%}), below the dataset threshold "
            f"of {mon.drift.drift_share:.0%}: {', '.join(drifted)}"
        )

    quality = [q for q in result.quality if not _expected_finding(q.column, q.rule, expected)]
    quality_ok = not quality
    if quality:
        listed = "; ".join(f"{q.column}: {q.detail}" for q in quality)
        found.add("data_quality", "high", f"data-quality rules broken: {listed}")
    moved = [p for p in result.predictions if p.drifted and p.name not in expected]
    if moved:
        made_by = f" of v{result.prediction_version}" if result.prediction_version else ""
        scores = [  # not `drifted`: that name holds the feature columns that count
            f"{p.name!r}{made_by} drifted ({p.method} {p.score:.3g}, threshold {p.threshold:g})"
            for p in moved
        ]
        what = "the score" if len(result.predictions) == 1 else "the prediction column"
        found.add("prediction_drift", "low", f"{what} {'; '.join(scores)}")
    performance_drop = _performance(result, spec, found)
    estimated_drop = _estimated(result, spec, found, confirmed=performance_drop)
    _other_versions(result, found)
    for note in result.notes:
        found.note(note)

    # Retrain wishes, then what may stop them.
    persistent = False
    if input_drift:
        count, considered = _persistence(
            history, end, mon.window, mon.policy.persistence.of_last, champion_version
        )
        count += 1
        need = mon.policy.persistence
        persistent = count >= need.required
        found.note(
            f"input drift in {count} of the last {need.of_last} windows "
            f"({considered + 1} monitored); a retrain needs {need.required}"
        )
        if persistent:
            found.triggers.append("persistent")
            found.severity = max(found.severity, SEVERITIES.index("high"))
    lasting = estimated_drop and _lasting_estimate(
        history, end, spec, champion_version, acknowledged, found
    )
    wants_retrain = performance_drop or persistent or lasting
    reason: RetrainReason | None = (
        "performance" if performance_drop else "drift" if persistent or lasting else None
    )
    quiet = found.quiet | ({"drift_acknowledged"} if quiet_ack else set())
    alerting = [t for t in found.triggers if t not in quiet]
    action: Action = "alert" if alerting else "none"
    if wants_retrain:
        action = "retrain"
        since = _last_change(history, end, champion_version, promoted_at)
        if since is not None and end - since < pd.Timedelta(mon.policy.cooldown):
            until = since + pd.Timedelta(mon.policy.cooldown)
            action = "alert"
            found.add(
                "cooldown",
                "medium",
                f"retrain held back: cooldown after the last retrain or promotion "
                f"({since:%Y-%m-%d %H:%M}) lasts until {until:%Y-%m-%d %H:%M}",
            )
        if not quality_ok and mon.data_quality.block_retrain:
            action = "alert"
            found.add(
                "retrain_blocked",
                "high",
                "retrain held back: fix the data-quality problems first (a model retrained "
                "on broken data learns the bug)",
            )
        if action == "retrain" and change is not None and not change.ready:
            action = "alert"
            found.add(
                "retrain_pending",
                "high",
                f"retrain pending: {change.rows:,} of {change.needed:,} labelled rows after "
                f"the change on {utc(change.at):%Y-%m-%d %H:%M} ({change.how}); the retrain "
                "starts on the first window that has them, trained and benchmarked on data "
                "after the change",
            )
        if action == "retrain" and mon.policy.retrain == "never":
            action = "alert"
            found.add(
                "retrain_recommended",
                "high",
                "retrain recommended, not started: monitoring.policy.retrain is never "
                f"(monitor only); train a challenger with `driftline train --model {spec.name}` "
                "and promote it when you choose",
            )
    if action == "retrain" and change is not None:
        found.note(
            f"the retrain trains on data after the change on {utc(change.at):%Y-%m-%d %H:%M} "
            f"({change.how}; {change.rows:,} labelled rows)"
        )
    if not found.triggers:
        found.note("no drift, no data-quality problem, no performance drop")
    return Decision(
        action=action,
        severity=SEVERITIES[found.severity] if action != "none" else "none",
        status="drift" if set(found.triggers) - found.quiet else "ok",
        reasons=tuple(found.reasons),
        triggers=tuple(found.triggers),
        drifted_columns=tuple(drifted),
        drift_share=share,
        input_drift=input_drift,
        quality_ok=quality_ok,
        retrain_reason=reason,
        change_point=utc(change.at).to_pydatetime() if change is not None else None,
        dataset_drift=dataset_drift,
        expected_columns=tuple(sorted(expected)),
        headline=found.headline,
        events=tuple(dict.fromkeys(e.name for e in events)),
        quiet=tuple(t for t in found.triggers if t in quiet),
    )


#: Quality rules a declared event may break on its expected columns (a sale brings
#: discounts beyond the reference's range); missing and infinite values stay broken data.
_EXPECTABLE_RULES = frozenset({"out_of_range", "unseen_categories"})


def _expected_finding(column: str, rule: str, expected: set[str]) -> bool:
    return column in expected and rule in _EXPECTABLE_RULES


def _events(
    events: Sequence[CalendarEvent],
    history: Sequence[PastRun],
    end: pd.Timestamp,
    drifted: list[str],
    result: DriftResult,
    expected: set[str],
    found: _Findings,
    *,
    only_alerted: bool,
) -> None:
    """Rule 12: say what each active event moved, as a low finding until a window
    announced it, later as a note. ``only_alerted``: only a window whose alert was
    queued announced it (else every earlier window of the event that raised it counts).
    Each expected column is named once, with what was seen on it."""
    moved = set(drifted) | {p.name for p in result.predictions if p.drifted}
    announced = True
    for event in events:
        mine = set(event.expected_columns)
        seen: dict[str, list[str]] = {c: ["drifted"] if c in moved else [] for c in mine}
        for q in result.quality:
            if q.column in mine and _expected_finding(q.column, q.rule, expected):
                seen[q.column].append(q.rule)
        columns = ", ".join(
            c + (f" ({'; '.join(seen[c])})" if seen[c] else "") for c in event.expected_columns
        )
        text = (
            f"calendar event {event.name} ({utc(event.start):%Y-%m-%d %H:%M} to "
            f"{utc(event.end):%Y-%m-%d %H:%M} UTC"
            + (f": {event.expect}" if event.expect else "")
            + f"): its expected columns {columns}"
            + ("" if any(seen.values()) else " (none moved yet)")
            + " are recorded, not counted toward alerts, persistence or retraining; "
            "undeclared columns are judged as usual"
        )
        earlier = [
            r
            for r in history
            if "calendar_event" in r.triggers
            and utc(event.start) < utc(r.window_end) < end
            and (r.alerted or not only_alerted)
        ]
        if earlier:
            first = min(earlier, key=lambda r: utc(r.window_end))
            when = f"{utc(first.window_end):%Y-%m-%d %H:%M} UTC"
            found.note(
                text
                + (
                    f" (announced by the alert of the window ending {when})"
                    if first.alerted
                    else f" (first noted in the window ending {when}, which sent no alert)"
                )
            )
        else:
            announced = False
            found.add("calendar_event", "low", text)
    if events and announced:  # recorded for the history, raises nothing
        if "calendar_event" not in found.triggers:
            found.triggers.append("calendar_event")
        found.quiet.add("calendar_event")


def segment_drops(segment: SegmentResult, spec: ModelSpec) -> list[str]:
    """The realized metrics of ``segment`` more than ``performance.max_drop`` worse than
    the champion's validation value, on at least ``performance.min_labelled_rows``
    labelled rows (rule 11); empty without labelled rows in the segment."""
    rules = spec.monitoring.performance
    perf = segment.performance
    if perf is None or perf.labelled_rows < rules.min_labelled_rows:
        return []
    return [
        metric
        for metric, max_drop in rules.max_drop.items()
        if (drop := perf.drop(metric)) is not None and drop > max_drop
    ]


def _segments(result: DriftResult, spec: ModelSpec, expected: set[str], found: _Findings) -> None:
    """Rule 11: one reason per segment that drifted (trigger ``segment_drift``) or whose
    realized performance fell (``segment_performance_drop``)."""
    report = result.segments
    if report is None:
        return
    named: list[str] = []
    for seg in report.segments:
        counted = set(seg.counted_columns(expected))
        drifted = [c for c in seg.columns if c.name in counted]
        where = f"{seg.value} ({seg.column})"
        if drifted:
            shown = ", ".join(
                f"{c.name} ({c.method} "
                + (
                    f"adjusted p {c.p_adjusted:.2g}"
                    if c.p_adjusted is not None
                    else f"{c.score:.3g}"
                )
                + ")"
                for c in drifted
            )
            found.add("segment_drift", "medium", f"{where}: {shown} drifted")
        perf = seg.performance
        fell = segment_drops(seg, spec)
        if perf is not None and fell:
            shown = "; ".join(
                f"realized {m} {perf.metrics[m]:.3f} vs validation {perf.baseline[m]:.3f}"
                for m in fell
            )
            found.add(
                "segment_performance_drop",
                "medium",
                f"{where}: {shown} on {perf.labelled_rows} labelled rows",
            )
        if drifted or fell:
            named.append(seg.value)
    checked = len(report.segments)
    found.note(
        f"segments: {checked} checked, {len(named)} with findings"
        + (f" ({', '.join(named)})" if named else "")
        + f"; {report.tests} p-value tests under Benjamini-Hochberg at q={report.alpha:g}"
        + (f"; {len(report.skipped)} segment values too small to check" if report.skipped else "")
    )


def _acknowledged(
    acknowledged: Acknowledged | None,
    drifted: list[str],
    critical: list[str],
    columns: int,
    spec: ModelSpec,
) -> Acknowledged | None:
    """``acknowledged`` when the window's input drift is that drift: without the
    acknowledged columns, neither the drift share nor a critical feature would count."""
    if acknowledged is None:
        return None
    known = set(acknowledged.columns)
    other = [c for c in drifted if c not in known]
    if any(c not in known for c in critical):
        return None
    if columns and len(other) / columns >= spec.monitoring.drift.drift_share:
        return None
    return acknowledged


def _announced(history: Sequence[PastRun], ack: Acknowledged, end: pd.Timestamp) -> bool:
    """Whether a window after the rejection already said the drift is acknowledged."""
    since = utc(ack.rejected_at)
    return any(
        "drift_acknowledged" in r.triggers and since <= utc(r.window_end) < end for r in history
    )


def _performance(result: DriftResult, spec: ModelSpec, found: _Findings) -> bool:
    """Add performance findings; True when a metric fell beyond its allowed drop."""
    rules = spec.monitoring.performance
    perf = result.performance
    if not rules.enabled or perf is None:
        return False
    whose = f" of champion v{perf.version}" if perf.version else ""
    why = task_for(spec.model).why_not_judged(
        perf, min_labelled_rows=rules.min_labelled_rows, min_positives=rules.min_positives
    )
    if why:
        found.note(f"{why}" + (f" (counting predictions{whose} only)" if whose else ""))
        return False
    dropped = False
    for metric, max_drop in rules.max_drop.items():
        drop = perf.drop(metric)
        if drop is None:
            if metric not in perf.baseline:
                found.note(f"{metric} not judged: the champion's baseline has no {metric}")
            continue
        realized, base = perf.metrics[metric], perf.baseline[metric]
        cohort = f"cohort {perf.cohort}: " if perf.cohort else ""
        if drop > max_drop:
            dropped = True
            worse = "below" if perf.higher(metric) else "above"
            found.add(
                "performance_drop",
                "critical",
                f"{cohort}realized {metric} {realized:.3f}{whose} is {drop:.3f} {worse} the "
                f"champion's validation {base:.3f} (allowed {max_drop:g} worse, "
                f"{perf.labelled_rows} labelled predictions)",
            )
        else:
            found.note(f"{cohort}realized {metric} {realized:.3f}{whose} (validation {base:.3f})")
    return dropped


def _estimated(result: DriftResult, spec: ModelSpec, found: _Findings, *, confirmed: bool) -> bool:
    """Add the estimated-performance findings (rule 4b): an estimated metric worse than
    the champion's validation value by more than ``performance.estimated.max_drop``
    alerts at medium severity (trigger ``estimated_performance_drop``), below a realized
    drop; a realized drop in the same window (``confirmed``) is the critical finding and
    the estimate is only noted. The labelled window's estimate is noted next to its
    realized value. True when an estimated drop was found (and not confirmed)."""
    rules = spec.monitoring.performance.estimated
    est = result.estimated
    dropped = False
    if est is not None:
        whose = f" of champion v{est.version}" if est.version else ""
        for metric in est.metrics:
            drop, allowed = est.drop(metric), rules.max_drop.get(metric)
            text = f"{est.text(metric)}{whose} on {est.rows:,} predictions without labels"
            if drop is not None and allowed is not None and drop > allowed and not confirmed:
                dropped = True
                worse = "below" if est.higher(metric) else "above"
                found.add(
                    ESTIMATED_DROP,
                    "medium",
                    f"performance: {text} is {drop:.3f} {worse} the champion's validation "
                    f"{est.reference[metric]:.3f} (allowed {allowed:g} worse; {est.method} "
                    "estimate, blind to concept drift; realized performance confirms once "
                    "labels mature)",
                )
            else:
                found.note(text)
    matured = result.estimated_labelled
    if matured is not None and matured.realized:
        shown = "; ".join(matured.text(m) for m in matured.metrics if m in matured.realized)
        found.note(f"labelled window ({matured.rows:,} predictions): {shown}")
    return dropped


def _lasting_estimate(
    history: Sequence[PastRun],
    end: pd.Timestamp,
    spec: ModelSpec,
    champion_version: str | None,
    acknowledged: Acknowledged | None,
    found: _Findings,
) -> bool:
    """Rule 4c, for a window with an estimated drop: True when ``performance.estimated.
    retrain`` is on and the drop lasted (``policy.persistence`` over earlier windows with
    the ``estimated_performance_drop`` trigger and no data-quality problem, against the
    same champion) and no rejected challenger acknowledged it."""
    mon = spec.monitoring
    if not mon.performance.estimated.retrain:
        return False
    need = mon.policy.persistence
    count, considered = _persistence(
        history, end, mon.window, need.of_last, champion_version, counts=_had_estimated_drop
    )
    count += 1
    found.note(
        f"estimated drop in {count} of the last {need.of_last} windows ({considered + 1} "
        f"monitored); a retrain on it needs {need.required} (performance.estimated.retrain)"
    )
    if count < need.required:
        return False
    if acknowledged is not None and acknowledged.estimated:
        found.note(
            f"estimated drop acknowledged: v{acknowledged.version}, trained on data after "
            f"it, was rejected on {utc(acknowledged.rejected_at):%Y-%m-%d} as no better, so "
            "the lasting estimate asks for no retrain while this champion serves (a "
            "realized drop is judged afresh)"
        )
        return False
    found.add(
        LASTING_ESTIMATED_DROP,
        "high",
        f"the estimated drop lasted ({count} of the last {need.of_last} windows): retrain "
        "before the labels confirm it (reason drift: the estimate sees covariate shift "
        "only, so the inputs moved to where the champion does worse)",
    )
    return True


def _had_estimated_drop(run: PastRun) -> bool:
    return ESTIMATED_DROP in run.triggers


def _other_versions(result: DriftResult, found: _Findings) -> None:
    """Note the realized performance of versions other than the champion: measured against
    their own validation metrics, never judged (see rule 4)."""
    for perf in result.other_performance:
        shown = ", ".join(
            f"{m} {v:.3f}"
            + (f" (its validation {perf.baseline[m]:.3f})" if m in perf.baseline else "")
            for m, v in perf.metrics.items()
        )
        found.note(
            f"predictions of v{perf.version} (not the champion): "
            f"{'realized ' + shown if shown else 'no realized metrics'} on "
            f"{perf.labelled_rows} labelled predictions; shown, not judged: only the "
            "champion's own predictions can ask for a retrain"
        )


def drift_onset(
    history: Sequence[PastRun],
    end: datetime,
    window: timedelta,
    persistence: Persistence,
    champion_version: str | None,
) -> datetime:
    """Where a lasting input drift began: the start of the earliest window of the drift
    that the window ending at ``end`` belongs to. Walking back window by window through
    runs against the same champion, the drift goes on while no more than
    ``of_last - required`` windows in a row lack it (the gaps persistence tolerates; a
    window that was not monitored lacks it)."""
    return _onset(history, end, window, persistence, champion_version, _had_input_drift)


def estimated_drop_onset(
    history: Sequence[PastRun],
    end: datetime,
    window: timedelta,
    persistence: Persistence,
    champion_version: str | None,
) -> datetime:
    """Where a lasting estimated drop began (rule 4c): as :func:`drift_onset`, over the
    windows whose triggers include ``estimated_performance_drop``."""
    return _onset(history, end, window, persistence, champion_version, _had_estimated_drop)


def _had_input_drift(run: PastRun) -> bool:
    return run.input_drift


def _onset(
    history: Sequence[PastRun],
    end: datetime,
    window: timedelta,
    persistence: Persistence,
    champion_version: str | None,
    counts: Callable[[PastRun], bool],
) -> datetime:
    length = pd.Timedelta(window)
    latest = {utc(r.window_end): r for r in history}
    onset = utc(end) - length
    allowed = persistence.of_last - persistence.required
    gap = 0
    cursor = utc(end) - length
    while gap <= allowed:
        run = latest.get(cursor)
        same = run is not None and (
            not champion_version
            or not run.champion_version
            or run.champion_version == champion_version
        )
        if run is not None and same and counts(run) and run.quality_ok:
            onset, gap = cursor - length, 0
        else:
            gap += 1
        cursor -= length
    return onset.to_pydatetime()


def _persistence(
    history: Sequence[PastRun],
    end: pd.Timestamp,
    window: timedelta,
    of_last: int,
    champion_version: str | None,
    *,
    counts: Callable[[PastRun], bool] = _had_input_drift,
) -> tuple[int, int]:
    """(earlier windows with a clean finding, earlier windows judged) among the windows
    ending in the ``of_last - 1`` window lengths before ``end``, against the same
    champion; ``counts`` says whether a run had the finding (default: input drift). A
    missing run counts as a window without it."""
    earliest = end - pd.Timedelta(window) * (of_last - 1)
    seen: set[pd.Timestamp] = set()
    drifted = judged = 0
    for run in history:
        when = utc(run.window_end)
        if not earliest <= when < end or when in seen:
            continue
        seen.add(when)
        if run.status not in ("ok", "drift"):
            continue
        if champion_version and run.champion_version and run.champion_version != champion_version:
            continue
        judged += 1
        if counts(run) and run.quality_ok:
            drifted += 1
    return drifted, judged


def _last_change(
    history: Sequence[PastRun],
    end: pd.Timestamp,
    champion_version: str | None,
    promoted_at: datetime | None,
) -> pd.Timestamp | None:
    """When the model last changed hands: the latest retrain decision, the champion's
    promotion time if known, or the first window monitored against the current champion
    after one monitored against another version."""
    moments: list[pd.Timestamp] = []
    earlier = sorted(
        (r for r in history if utc(r.window_end) < end), key=lambda r: utc(r.window_end)
    )
    moments += [utc(r.window_end) for r in earlier if r.action == "retrain"]
    if promoted_at is not None:
        moments.append(utc(promoted_at))
    if champion_version:
        previous: str | None = None
        for run in earlier:
            if run.champion_version is None:
                continue
            if (
                previous is not None
                and previous != champion_version
                and (run.champion_version == champion_version)
            ):
                moments.append(utc(run.window_end))
            previous = run.champion_version
        if previous is not None and previous != champion_version:
            moments.append(end)
    return max(moments) if moments else None
