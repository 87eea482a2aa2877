"""Monitor flows: ``monitor-model`` (one window, then act on the decision) and
``backfill-monitor`` (every window of a date range, oldest first).

The steps are core calls (driftline.monitor); the flow adds the Prefect side: artifacts
for each run, the alert through the outbox, and on a retrain decision either the
``driftline.drift.detected`` event (which starts the model's ``retrain-model``
deployment) or the ``retrain-model`` flow itself. It
branches only on the decision the core returned.
"""

from __future__ import annotations

from typing import Any, Literal

from driftline.flows.hooks import ALERTED_FAILURE, alert_on_failure, flow_run_url
from driftline.flows.names import backfill_run_name, monitor_run_name, tag_flow_run
from driftline.flows.secrets import channel_urls
from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.states import Failed

from driftline.config.links import snapshot_url
from driftline.config.settings import get_settings
from driftline.monitoring.monitor import MonitorRun, timeline_row
from driftline.ops.deployments import DRIFT_EVENT, model_resource
from driftline.sdk import backfill, monitor_model, notify_monitor_run


def _key(model: str, suffix: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return f"monitor-{model}-{suffix}".lower().replace("_", "-")


# A MonitorRun carries Evidently snapshots: never cached, hashed or persisted by Prefect.
@task(name="monitor-window", persist_result=False, cache_policy=NO_CACHE)
def monitor_window(model: str, window_end: str | None, profile: str | None = None) -> MonitorRun:
    """Load the spec, read the window (or its ``profile``), resolve the champion's
    baseline, check drift, decide and store the run (a problem becomes a failed run,
    recorded with its message; a profile that does not fit raises, recording nothing)."""
    return monitor_model(model, window_end, profile=profile)


@task(name="publish-artifacts", persist_result=False, cache_policy=NO_CACHE)
def publish_artifacts(run: MonitorRun) -> None:
    """A markdown summary, a table of the columns, and a link to the run's snapshot in
    the Evidently UI (the HTML file's path is in the summary, labelled as a path)."""
    report_url = snapshot_url(get_settings().evidently_ui_url, run.project_id, run.snapshot_id)
    create_markdown_artifact(
        markdown=run.markdown(report_url),
        key=_key(run.model, "summary"),
        description=f"{run.model}: window ending {run.window_end:%Y-%m-%d %H:%M} UTC",
    )
    rows = run.column_rows()
    if rows:
        create_table_artifact(
            table=rows,
            key=_key(run.model, "columns"),
            description=f"{run.model}: drift per column",
        )
    if report_url is not None:
        create_link_artifact(
            link=report_url,
            link_text=f"Evidently snapshot of {run.window_end:%Y-%m-%d %H:%M} UTC",
            key=_key(run.model, "report"),
            description=f"{run.model}: the window's report in the Evidently UI",
        )


@task(name="notify", persist_result=False, cache_policy=NO_CACHE)
def notify(run: MonitorRun) -> dict[str, Any] | None:
    """The run's alert into the outbox, then sent (by the model's ``alerts:`` rules)."""
    result = notify_monitor_run(run, flow_run_url=flow_run_url(), overrides=channel_urls())
    if result is None:
        return None
    return {"alert": result.enqueued.alert_id, "sent": result.flushed.sent}


@task(name="emit-drift-event", persist_result=False, cache_policy=NO_CACHE)
def emit_drift_event(run: MonitorRun) -> str | None:
    """Ask for a retrain: the model's retrain deployment is triggered by this event."""
    event = emit_event(
        event=DRIFT_EVENT,
        resource={
            "prefect.resource.id": model_resource(run.model),
            "prefect.resource.name": run.model,
        },
        payload=run.summary(),
    )
    return str(event.id) if event is not None else None


@flow(
    name="monitor-model",
    flow_run_name=monitor_run_name,
    on_failure=[alert_on_failure],
    on_crashed=[alert_on_failure],
)
def monitor_model_flow(
    model: str,
    window_end: str | None = None,
    retrain_via: Literal["event", "subflow"] = "event",
    alert: bool = True,
    profile: str | None = None,
) -> Any:
    """Monitor one window of ``model`` against its champion and act on the decision.

    ``profile`` (a path or URL of a window profile, e.g. what a Spark job wrote with
    ``driftline profile spark``) stands in for the window's rows; ``window_end`` then
    defaults to the window the profile records (a Spark profile records none: pass it).
    A profile that does not fit the model, the window or the champion's reference bins
    fails the flow run before anything is recorded.

    alert or retrain: the alert goes out (``alert=False`` skips it); retrain: the
    ``driftline.drift.detected`` event for the retrain deployment, or with
    ``retrain_via="subflow"`` the ``retrain-model`` flow right here (no deployment
    needed). A failed run ends the flow Failed, after its artifacts and alert (that
    alert is the failure's; any other failure alerts through the ``on_failure`` hook).
    The run is named ``monitor-<model>-<window end>`` and tagged ``model:<model>``, then
    ``decision:<action>`` (and ``reason:<retrain reason>`` on a retrain decision).
    """
    logger = get_run_logger()
    tag_flow_run("driftline", "monitor", f"model:{model}")
    if profile:
        tag_flow_run("input:profile")
    run = monitor_window(model, window_end, profile)
    decided = [f"decision:{run.action}", f"status:{run.status}"]
    if run.action == "retrain":
        decided.append(f"reason:{run.decision.retrain_reason or 'drift'}")
    tag_flow_run(*decided)
    publish_artifacts(run)
    logger.info(
        "%s %s: %s, decision %s (%s)",
        model,
        f"{run.window_start:%Y-%m-%d %H:%M}..{run.window_end:%Y-%m-%d %H:%M}",
        run.status,
        run.action,
        "; ".join(run.decision.reasons),
    )
    taken: list[str] = []
    raises_alert = run.action != "none" or run.status == "failed"
    if alert and raises_alert and notify(run) is not None:
        taken.append("alert")
    if run.action == "retrain" and retrain_via == "event":
        emit_drift_event(run)
        taken.append("retrain requested (event)")
    elif run.action == "retrain":
        from driftline.flows.retrain import retrain_model

        outcome = retrain_model(
            model=model,
            reason=run.decision.retrain_reason or "drift",
            monitor_run_id=str(run.run_id) if run.run_id is not None else None,
            as_of=run.window_end,
            since=run.decision.change_point,
        )
        logger.info("retrain-model finished: %s", outcome)
        if outcome is None:  # a repeat of a retrain that already ran
            taken.append("retrain: already handled")
        else:
            taken.append(f"retrain: v{outcome.challenger_version} {outcome.status}")
    summary = {**run.summary(), "action_taken": ", ".join(taken) or "-"}
    if run.status == "failed":
        name = ALERTED_FAILURE if "alert" in taken else "Failed"
        return Failed(name=name, message=f"{model}: {run.error}", data=summary)
    return summary


@flow(name="backfill-monitor", flow_run_name=backfill_run_name)
def backfill_monitor_flow(model: str, start: str, end: str) -> list[dict[str, Any]]:
    """Monitor every window of ``model`` in ``[start, end)``, oldest first, against
    today's champion. History only: no events, no retrains; a timeline table at the end.
    The run is named ``backfill-<model>-<start>..<end>`` and tagged ``model:<model>``."""
    logger = get_run_logger()
    tag_flow_run("driftline", "backfill", f"model:{model}")
    runs = backfill_windows(model, start, end)
    for run in runs:
        publish_artifacts(run)
    timeline = [timeline_row(run) for run in runs]
    create_table_artifact(
        table=timeline,
        key=_key(model, "backfill"),
        description=f"{model}: monitor backfill {start} to {end}",
    )
    failed = [r for r in runs if r.status == "failed"]
    logger.info("%s: %d windows, %d failed", model, len(runs), len(failed))
    return timeline


@task(name="backfill-windows", persist_result=False, cache_policy=NO_CACHE)
def backfill_windows(model: str, start: str, end: str) -> list[MonitorRun]:
    """Every window of the range through the core, each with the runs before it as history."""
    return backfill(model, start, end)
