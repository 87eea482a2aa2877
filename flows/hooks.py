"""Alerts from the Prefect side: the UI address of a flow run, and the ``on_failure`` /
``on_crashed`` hook that turns a failed run of any driftline flow into a ``flow_failed``
alert through the outbox.

The hook never raises: an outbox it cannot reach is logged to the run's log and the
run's state stays what it was. A flow that has already alerted about its own failure
(``monitor-model`` for a failed window) ends in a Failed state named
:data:`ALERTED_FAILURE`, and the hook leaves that one alone.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from driftline.flows.secrets import channel_urls
from prefect.logging.loggers import flow_run_logger

from driftline.alerts.lifecycle import delivery_note, flow_failed_alert
from driftline.config.links import flow_run_page
from driftline.config.secrets import scrub
from driftline.config.settings import get_settings
from driftline.sdk import notify_event

#: Name of a Failed state whose alert the flow has already sent.
ALERTED_FAILURE = "Failed (alerted)"


def flow_run_url(flow_run_id: UUID | str | None = None) -> str | None:
    """The Prefect UI page of a flow run (default: the current one): under
    ``DRIFTLINE_PREFECT_UI_URL`` when set, else where Prefect says its UI is
    (``PREFECT_UI_URL``, or derived from ``PREFECT_API_URL``), else under the address
    ``driftline ui`` serves the home's Prefect UI at. None when no run is active."""
    from prefect.runtime import flow_run
    from prefect.utilities.urls import url_for

    run_id = flow_run_id or flow_run.get_id()
    if not run_id:
        return None
    settings = get_settings()
    if "prefect_ui_url" not in settings.model_fields_set:
        try:
            url = url_for("flow-run", obj_id=str(run_id))
        except Exception:  # a link is a nicety: never let it cost the alert
            url = None
        if url:
            return url
    return flow_run_page(settings.prefect_ui_url, str(run_id))


def alert_on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_failure`` / ``on_crashed`` hook: record and send a ``flow_failed`` alert for
    the run's model (its ``model`` parameter). Logs instead of raising, always."""
    logger = flow_run_logger(flow_run, flow)
    try:
        if state.name == ALERTED_FAILURE:
            logger.info("the flow already alerted about this failure")
            return
        parameters = getattr(flow_run, "parameters", None) or {}
        model = parameters.get("model")
        alert = flow_failed_alert(
            model if isinstance(model, str) and model else None,
            flow_name=flow.name,
            error=state.message or f"the run ended {state.name}",
            run_name=flow_run.name,
            run_id=str(flow_run.id),
            flow_run_url=flow_run_url(flow_run.id),
            crashed=bool(state.is_crashed()),
        )
        try:
            urls = channel_urls()
        except Exception as exc:  # no Prefect API: the environment's URLs still work
            logger.warning("Secret blocks not read (%s); using DRIFTLINE_* URLs", scrub(str(exc)))
            urls = {}
        result = notify_event(alert, overrides=urls)
        logger.info("flow_failed alert: %s", delivery_note(result))
    except Exception as exc:
        logger.error(
            "could not raise the flow_failed alert: %s: %s", type(exc).__name__, scrub(str(exc))
        )
