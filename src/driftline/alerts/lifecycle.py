"""Lifecycle events as alerts: retrain started, challenger promoted or rejected, rollback,
and a flow that failed.

The builders are pure (values in, :class:`~driftline.alerts.message.Alert` out) so every message
can be checked without a registry, a store or Prefect; :func:`notify_event` and
:func:`notify_outcome` are the one place that records and sends them, given an open
store (the edges open it: the CLI, and :mod:`driftline.sdk` for the flows and their
failure hooks). Lifecycle events always alert (the spec's ``min_severity`` gates
only findings); delivery problems never raise: an alert that could not be sent stays
pending in the outbox, one that could not even be recorded is logged.

Nothing secret ends up in an alert: links are built only from http(s) addresses with
their credentials, query and fragment removed, and free text (error messages, notes) is
scrubbed of webhook URLs, passwords in URLs and ``token=``-style parameters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from driftline.alerts.message import Alert, Finding, Links, Severity
from driftline.config.errors import AlertError, DriftlineError, SpecError
from driftline.config.links import model_version_url, public_url
from driftline.config.secrets import scrub
from driftline.config.values import finite_or_none

if TYPE_CHECKING:
    from driftline.alerts.delivery import Destinations
    from driftline.alerts.outbox import NotifyResult
    from driftline.config.settings import Settings
    from driftline.data.store import Store
    from driftline.lifecycle.gates import GateReport
    from driftline.lifecycle.promotion import PromotionOutcome
    from driftline.specs import AlertsSection, ModelSpec

log = logging.getLogger(__name__)

#: The ``model`` of alerts that are about no single model (e.g. ``flush-alerts`` failed).
SYSTEM_MODEL = "driftline"
#: Severity of each lifecycle event.
SEVERITY: dict[str, Severity] = {
    "retrain_started": Severity.INFO,
    "promoted": Severity.INFO,
    "rejected": Severity.WARNING,
    "rollback": Severity.WARNING,
    "flow_failed": Severity.CRITICAL,
}
_TEXT_MAX = 1500
_REASONS = {
    "bootstrap": "the model has no champion yet",
    "drift": "its inputs drifted for good",
    "performance": "its realized performance dropped",
    "quality": "a data-quality incident was fixed",
    "schedule": "it is scheduled",
    "manual": "someone asked for it",
}


def _clip(text: str, limit: int = _TEXT_MAX) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _v(version: str | None) -> str:
    return f"v{version}" if version else "none"


def _primary(report: GateReport) -> tuple[str, str] | None:
    """``(metric, "0.7312 (champion v3 0.7012, +0.0300)")`` from the floor and
    improvement gates (the floor gate observes the challenger's primary metric; the
    improvement gate the difference to the champion)."""
    floor = next((g for g in report.gates if g.name == "floor"), None)
    value = finite_or_none(floor.observed) if floor is not None else None
    if value is None:
        return None
    text = f"{value:.4f}"
    better = next((g for g in report.gates if g.name == "improvement"), None)
    diff = (
        finite_or_none(better.observed)
        if better is not None and better.status != "skipped"
        else None
    )
    if report.champion_version and diff is not None:
        text += f" (champion {_v(report.champion_version)} {value - diff:.4f}, {diff:+.4f})"
    elif not report.champion_version:
        text += " (no champion yet)"
    return report.primary_metric, text


# -- builders (pure) ----------------------------------------------------------------------


def retrain_started_alert(
    model: str,
    *,
    reason: str,
    monitor_run_id: str | int | None = None,
    triggered_by: str | None = None,
    as_of: datetime | None = None,
    flow_run_url: str | None = None,
    since: datetime | None = None,
) -> Alert:
    """A retrain has begun: why (the reason word of
    :data:`driftline.lifecycle.training.REASONS`, and which monitor run asked for it), who
    started it, and the change point it trains after (``since``)."""
    why = _REASONS.get(reason, f"of {reason}")
    if reason in ("drift", "performance") and monitor_run_id is not None:
        why += f": monitor run #{monitor_run_id} asked for it"
    facts = {"Reason": reason}
    if since is not None:
        facts["Trains on data after"] = f"{since:%Y-%m-%d %H:%M} UTC"
    if monitor_run_id is not None:
        facts["Monitor run"] = f"#{monitor_run_id}"
    if triggered_by:
        facts["Started by"] = _clip(scrub(triggered_by), 200)
    if as_of is not None:
        facts["Data clock"] = f"{as_of:%Y-%m-%d %H:%M} UTC"
    return Alert(
        model=model,
        kind="retrain_started",
        severity=SEVERITY["retrain_started"],
        title=f"Retrain started ({reason})",
        summary=f"Training a challenger for {model} because {why}. It will be benchmarked "
        "against the champion and promoted only if it passes every gate.",
        facts=facts,
        links=Links(flow_run=public_url(flow_run_url)),
    )


def promoted_alert(
    outcome: PromotionOutcome,
    *,
    mlflow_ui: str | None = None,
    flow_run_url: str | None = None,
) -> Alert:
    """The challenger became the champion: versions before and after, its numbers."""
    new, old = outcome.champion_after, outcome.champion_before
    facts = {"Champion before": _v(old), "Champion now": _v(new)}
    summary = outcome.reason
    if outcome.report is not None:
        primary = _primary(outcome.report)
        if primary is not None:
            facts[primary[0]] = primary[1]
        facts["Benchmark window"] = outcome.report.window
    if outcome.retrain_reason:
        facts["Reason"] = outcome.retrain_reason
    facts["Decided by"] = outcome.triggered_by
    if outcome.warnings:
        summary += "\nWarnings: " + "; ".join(outcome.warnings)
    # Without a gate report the version was installed, not judged: an adopted model.
    if outcome.report is None:
        head = f"{_v(new)} adopted as champion"
    else:
        head = f"Challenger {_v(new)} promoted to champion"
    return Alert(
        model=outcome.model,
        kind="promoted",
        severity=SEVERITY["promoted"],
        title=head + (f" (replacing {_v(old)})" if old else " (first model)"),
        summary=_clip(scrub(summary)),
        decision=outcome.status,
        facts={k: _clip(scrub(v), 300) for k, v in facts.items()},
        links=Links(
            flow_run=public_url(flow_run_url),
            model_version=model_version_url(mlflow_ui, outcome.model, new),
        ),
    )


def rejected_alert(
    outcome: PromotionOutcome,
    *,
    mlflow_ui: str | None = None,
    flow_run_url: str | None = None,
) -> Alert:
    """The challenger was not promoted: every failing gate with its numbers and reason."""
    report = outcome.report
    failed = report.failed if report is not None else []
    gates = [
        Finding(
            name=g.name,
            detail=_clip(scrub(g.reason), 500),
            value=finite_or_none(g.observed),
            threshold=finite_or_none(g.threshold),
        )
        for g in failed
    ]
    champion = outcome.champion_before
    facts = {"Challenger": _v(outcome.challenger_version), "Champion": _v(champion)}
    if report is not None:
        primary = _primary(report)
        if primary is not None:
            facts[primary[0]] = primary[1]
        facts["Benchmark window"] = report.window
    if outcome.retrain_reason:
        facts["Reason"] = outcome.retrain_reason
    facts["Decided by"] = outcome.triggered_by
    stays = f"champion {_v(champion)} stays" if champion else "there is still no champion"
    names = ", ".join(g.name for g in failed)
    total = len(report.gates) if report is not None else 0
    why = (
        f"{_v(outcome.challenger_version)} failed {len(failed)} of {total} gates ({names}); "
        f"{stays}. The numbers and reasons are below; the full gate report is in the "
        "flow run's artifacts and on the benchmark run in MLflow."
    )
    return Alert(
        model=outcome.model,
        kind="rejected",
        severity=SEVERITY["rejected"],
        title=f"Challenger {_v(outcome.challenger_version)} rejected by "
        f"{len(failed)} gate{'s' if len(failed) != 1 else ''}; {stays}",
        summary=_clip(scrub(why if failed else outcome.reason)),
        decision=outcome.status,
        failing_gates=gates,
        facts={k: _clip(scrub(v), 300) for k, v in facts.items()},
        links=Links(
            flow_run=public_url(flow_run_url),
            model_version=model_version_url(mlflow_ui, outcome.model, outcome.challenger_version),
        ),
    )


def rollback_alert(
    outcome: PromotionOutcome,
    *,
    mlflow_ui: str | None = None,
    flow_run_url: str | None = None,
) -> Alert:
    """The previous champion serves again: from which version to which, why, by whom."""
    before, after = outcome.champion_before, outcome.champion_after
    return Alert(
        model=outcome.model,
        kind="rollback",
        severity=SEVERITY["rollback"],
        title=f"Rolled back from {_v(before)} to {_v(after)}",
        summary=_clip(scrub(outcome.reason)),
        decision=outcome.status,
        facts={
            "Rolled back": _v(before),
            "Champion now": _v(after),
            "By": _clip(scrub(outcome.triggered_by), 300),
        },
        links=Links(
            flow_run=public_url(flow_run_url),
            model_version=model_version_url(mlflow_ui, outcome.model, after),
        ),
    )


def outcome_alert(
    outcome: PromotionOutcome,
    *,
    mlflow_ui: str | None = None,
    flow_run_url: str | None = None,
) -> Alert | None:
    """The alert for a promotion or rollback outcome; None while a manual approval is
    pending (nothing has been decided yet)."""
    builders = {"promoted": promoted_alert, "rejected": rejected_alert}
    if outcome.status == "rolled_back":
        return rollback_alert(outcome, mlflow_ui=mlflow_ui, flow_run_url=flow_run_url)
    build = builders.get(outcome.status)
    if build is None:
        return None
    return build(outcome, mlflow_ui=mlflow_ui, flow_run_url=flow_run_url)


def settled_alert(
    outcome: PromotionOutcome, settings: Settings, *, flow_run_url: str | None = None
) -> Alert | None:
    """:func:`outcome_alert` with the MLflow model version linked under the settings'
    MLflow UI address (``settings.mlflow_ui()``); None while a manual approval is
    pending."""
    if outcome.status == "pending":
        return None
    return outcome_alert(outcome, mlflow_ui=settings.mlflow_ui(), flow_run_url=flow_run_url)


def flow_failed_alert(
    model: str | None,
    *,
    flow_name: str,
    error: str,
    run_name: str | None = None,
    run_id: str | None = None,
    flow_run_url: str | None = None,
    crashed: bool = False,
) -> Alert:
    """A flow run ended Failed (or Crashed): which flow and run, the error, the link.

    ``model`` None (a flow about no single model, e.g. ``flush-alerts``) files it under
    :data:`SYSTEM_MODEL`.
    """
    what = "crashed" if crashed else "failed"
    facts = {"Flow": flow_name}
    if run_name:
        facts["Flow run"] = run_name
    if run_id:
        facts["Run id"] = run_id
    return Alert(
        model=(model or SYSTEM_MODEL)[:64],
        kind="flow_failed",
        severity=SEVERITY["flow_failed"],
        title=f"Flow {flow_name} {what}" + (f" ({run_name})" if run_name else ""),
        summary=_clip(scrub(error)) or f"the flow run {what} without a message",
        facts={k: _clip(scrub(v), 300) for k, v in facts.items()},
        links=Links(flow_run=public_url(flow_run_url)),
    )


# -- recording and sending ----------------------------------------------------------------


#: What recording an alert may run into (an unreachable store, a bad spec, a bad URL):
#: logged by the notify functions, never raised.
NOT_RECORDED = (DriftlineError, SQLAlchemyError, OSError)


def log_not_recorded(alert: Alert, error: BaseException) -> None:
    """Log (scrubbed) that ``alert`` could not be recorded in the outbox; for edges that
    open the store themselves and must not raise either."""
    log.error(
        "could not record the %s alert of %s in the outbox: %s",
        alert.kind,
        alert.model,
        scrub(str(error)),
    )


def notify_event(
    store: Store,
    alert: Alert,
    destinations: Callable[[], Destinations],
    *,
    spec_of: Callable[[str], ModelSpec] | None = None,
) -> NotifyResult | None:
    """Record ``alert`` in the outbox of ``store``, then send what is due.

    The model's ``alerts:`` rules come from ``spec_of(alert.model)``; default rules apply
    when there is no loader or the spec does not load. ``destinations`` (the channels'
    URLs) is called only once the alert is recorded, so a malformed URL leaves it pending
    for a fixed one. Never raises for an unreachable store, a bad spec or a bad webhook
    URL: None is returned (with an error logged) when the alert could not be recorded.
    """
    try:
        return _record_and_send(store, alert, destinations, spec_of)
    except NOT_RECORDED as exc:
        log_not_recorded(alert, exc)
        return None


def _record_and_send(
    store: Store,
    alert: Alert,
    destinations: Callable[[], Destinations],
    spec_of: Callable[[str], ModelSpec] | None,
) -> NotifyResult:
    from driftline.alerts.outbox import FlushResult, NotifyResult, counts, enqueue, flush

    config: AlertsSection | None = None
    if spec_of is not None and alert.model != SYSTEM_MODEL:
        try:
            config = spec_of(alert.model).alerts
        except SpecError as exc:
            log.warning("alert rules of %s not read (%s): default rules apply", alert.model, exc)
    enqueued = enqueue(store, alert, config)
    try:
        return NotifyResult(enqueued, flush(store, destinations()))
    except Exception as exc:  # recorded first: it stays pending for the next flush
        problem = scrub(f"{type(exc).__name__}: {exc}")
        log.error("alert %s of %s recorded, not sent: %s", alert.kind, alert.model, problem)
        try:
            totals = counts(store)
        except Exception:  # the store went away after recording
            totals = {}
        return NotifyResult(enqueued, FlushResult([], totals))


def announcer(
    settings: Settings, *, flow_run_url: str | None = None
) -> Callable[[PromotionOutcome], Alert | None]:
    """The ``announce`` builder the lifecycle actions take
    (:func:`driftline.lifecycle.promotion.promote` and friends): the outcome's alert
    (:func:`settled_alert`), recorded in the outbox in the audit row's transaction."""
    return lambda outcome: settled_alert(outcome, settings, flow_run_url=flow_run_url)


def send_recorded(
    store: Store, alert_id: str | None, destinations: Callable[[], Destinations]
) -> NotifyResult | None:
    """Send what is due in the outbox, after a lifecycle action recorded its alert
    (``alert_id``, with its audit row); None when no alert was recorded or the store
    cannot be read. Never raises: an alert that cannot be sent stays pending."""
    from driftline.alerts.outbox import EnqueueResult, FlushResult, NotifyResult, counts, flush
    from driftline.alerts.outbox import recorded as recorded_rows

    if alert_id is None:
        return None
    try:
        enqueued: EnqueueResult = recorded_rows(store, alert_id)
        try:
            urls = destinations()
        except AlertError as exc:  # recorded first: it stays pending for a fixed URL
            log.error("alert %s recorded, not sent: %s", alert_id[:8], exc)
            return NotifyResult(enqueued, FlushResult([], counts(store)))
        return NotifyResult(enqueued, flush(store, urls))
    except Exception as exc:  # an alert problem never fails the action it is about
        problem = scrub(f"{type(exc).__name__}: {exc}")
        log.error("could not send alert %s: %s", alert_id[:8], problem)
        return None


def delivery_note(result: NotifyResult | None) -> str:
    """One line on what became of an alert, for a CLI or a run log (no URLs)."""
    if result is None:
        return (
            "the alert could not be recorded or its delivery could not be recorded (see the "
            "log); `driftline alerts flush` completes what is left without sending it twice"
        )
    if result.enqueued.skipped:
        return f"no alert: {result.enqueued.skipped}"
    parts = []
    for entry in result.enqueued.entries:
        status = result.status_of(entry.channel) or entry.status
        parts.append(f"{entry.channel} {status}")
    text = f"alert {result.enqueued.alert_id[:8]}: " + ", ".join(parts)
    if any(p.endswith("pending") for p in parts):
        text += " (`driftline alerts flush` sends it later)"
    return text
