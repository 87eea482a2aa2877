"""``flush-alerts``: send what the outbox still holds (nightly, and on demand)."""

from __future__ import annotations

from driftline.flows.hooks import alert_on_failure
from driftline.flows.secrets import channel_urls
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from driftline.alerts.delivery import DeliveryPolicy
from driftline.alerts.outbox import flush
from driftline.context import Context


@flow(name="flush-alerts", on_failure=[alert_on_failure], on_crashed=[alert_on_failure])
def flush_alerts(max_seconds: float = 60.0) -> dict[str, int]:
    """Send every due alert in the outbox; unsent ones stay pending for the next run."""
    logger = get_run_logger()
    with Context.open() as ctx:
        destinations = ctx.alert_destinations(channel_urls())
        result = flush(ctx.store, destinations, DeliveryPolicy(max_flush_seconds=max_seconds))
    summary = {
        "sent": result.sent,
        "failed": result.failed,
        "retry_later": result.retry_later,
        "recorded_from_journal": len(result.recorded_from_journal),
        **{f"outbox_{k}": v for k, v in result.totals.items()},
    }
    logger.info("alerts flushed: %s", summary)
    create_markdown_artifact(
        key="alerts-flush",
        markdown="| | count |\n|---|---:|\n"
        + "\n".join(f"| {k} | {v} |" for k, v in summary.items()),
        description="What the nightly alerts flush did",
    )
    return summary
