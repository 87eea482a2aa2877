"""Alerts: Slack Block Kit and generic JSON webhooks, delivered through an outbox.

Build an :class:`Alert` (a typed value any caller can fill), then
``notify(store, alert, spec.alerts, Destinations.from_settings(settings))``: the alert
is committed to the outbox first, then sent; whatever could not be sent stays pending
for the next run or ``driftline alerts flush``. Webhook URLs are secrets: they are
never logged, stored or printed.
"""

from __future__ import annotations

from driftline.alerts.delivery import (
    DeliveryPolicy,
    Destinations,
    SendResult,
    parse_retry_after,
    send_message,
)
from driftline.alerts.message import (
    FINDING_KINDS,
    Alert,
    AlertKind,
    FeatureDrift,
    Finding,
    Links,
    Severity,
    Window,
)
from driftline.alerts.outbox import (
    STATUSES,
    Delivery,
    EnqueueResult,
    FlushResult,
    NotifyResult,
    OutboxEntry,
    Status,
    counts,
    enqueue,
    flush,
    list_entries,
    notify,
    render,
    requeue_failed,
)
from driftline.alerts.render import (
    fallback_text,
    slack_limit_violations,
    slack_payload,
    webhook_payload,
)

__all__ = [
    "FINDING_KINDS",
    "STATUSES",
    "Alert",
    "AlertKind",
    "Delivery",
    "DeliveryPolicy",
    "Destinations",
    "EnqueueResult",
    "FeatureDrift",
    "Finding",
    "FlushResult",
    "Links",
    "NotifyResult",
    "OutboxEntry",
    "SendResult",
    "Severity",
    "Status",
    "Window",
    "counts",
    "enqueue",
    "fallback_text",
    "flush",
    "list_entries",
    "notify",
    "parse_retry_after",
    "render",
    "requeue_failed",
    "send_message",
    "slack_limit_violations",
    "slack_payload",
    "webhook_payload",
]
