"""Names and tags people can search for in the Prefect UI.

Flow runs are named for what they did (``monitor-purchase_propensity-2026-10-01``,
``retrain-purchase_propensity-drift``) instead of Prefect's random pair of words, and
tagged ``model:<model>`` plus what the run was about (``reason:<reason>`` for a retrain,
``decision:<action>`` once a monitor run has decided), so the flow-runs page filters by
model, window or reason. Prefect calls the ``flow_run_name`` callables below when the run
starts (``prefect.runtime.flow_run.parameters`` holds its parameters); tags are added to
the running flow run through the API (Prefect gives a run its tags when it is created).
"""

from __future__ import annotations

import logging
from datetime import datetime

from prefect import get_client
from prefect.context import FlowRunContext
from prefect.runtime import flow_run

from driftline.config.secrets import scrub
from driftline.config.settings import get_settings
from driftline.data.windows import window_bounds
from driftline.specs import find_spec

log = logging.getLogger(__name__)


def window_label(end: datetime) -> str:
    """A window end as it appears in a run name: ``2026-10-01`` at midnight UTC,
    ``2026-10-01T06:00Z`` otherwise."""
    if (end.hour, end.minute, end.second) == (0, 0, 0):
        return f"{end:%Y-%m-%d}"
    return f"{end:%Y-%m-%dT%H:%M}Z"


def monitor_run_name() -> str:
    """``monitor-<model>-<window end>``: the window the run checks; with no ``window_end``
    parameter, the window its ``profile`` records, else the last window boundary of the
    model's spec (``latest`` when the spec or the profile cannot be read: the run then
    fails and says why)."""
    parameters = flow_run.parameters or {}
    model = str(parameters.get("model") or "unknown")
    try:
        spec = find_spec(model, get_settings().specs_dir)
        window_end = parameters.get("window_end")
        if window_end is None and parameters.get("profile"):
            from driftline.monitoring.windowprofile import read_window_profile

            recorded = read_window_profile(str(parameters["profile"])).window
            window_end = recorded[1] if recorded is not None else None
        _, end = window_bounds(spec.monitoring, window_end)
        when = window_label(end)
    except Exception:  # a name must never fail the run; the run reports the problem
        when = str(parameters.get("window_end") or "latest")
    return f"monitor-{model}-{when}"


def retrain_run_name() -> str:
    """``retrain-<model>-<reason>``."""
    parameters = flow_run.parameters or {}
    return f"retrain-{parameters.get('model') or 'unknown'}-{parameters.get('reason') or 'manual'}"


def backfill_run_name() -> str:
    """``backfill-<model>-<start>..<end>``."""
    p = flow_run.parameters or {}
    return f"backfill-{p.get('model') or 'unknown'}-{p.get('start')}..{p.get('end')}"


def tag_flow_run(*tags: str) -> list[str]:
    """Add ``tags`` to the running flow run (kept with the ones it has); returns its tags.
    Never raises: a tag that cannot be set is logged, the run goes on."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return []
    merged = sorted(set(context.flow_run.tags) | set(tags))
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(context.flow_run.id, tags=merged)
    except Exception as exc:  # tags are for finding runs; never fail the run for them
        log.warning("could not tag flow run %s: %s", context.flow_run.id, scrub(str(exc)))
        return list(context.flow_run.tags)
    context.flow_run.tags = merged
    return merged
