"""Alerts: typed messages, delivered through an outbox to registered channels.

Build an :class:`Alert` (a typed value any caller can fill), then
``notify(store, alert, spec.alerts, Destinations.from_settings(settings))``: the alert
is committed to the outbox first, then sent to each channel of the spec (Slack Block
Kit, a generic JSON webhook, or any channel registered in
:data:`~driftline.alerts.channels.CHANNELS`); whatever could not be sent stays pending
for the next run or ``driftline alerts flush``. Webhook URLs are secrets: they are
never logged, stored or printed.

The names below are imported on first use, so that importing a submodule (spec
validation reads :mod:`driftline.alerts.channels`) does not load the outbox's database
code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftline.alerts.channels import CHANNELS, AlertChannel, SendResult, parse_retry_after
    from driftline.alerts.delivery import DeliveryPolicy, Destinations, send_message
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

_WHERE = {
    "driftline.alerts.channels": ("CHANNELS", "AlertChannel", "SendResult", "parse_retry_after"),
    "driftline.alerts.delivery": ("DeliveryPolicy", "Destinations", "send_message"),
    "driftline.alerts.message": (
        "FINDING_KINDS",
        "Alert",
        "AlertKind",
        "FeatureDrift",
        "Finding",
        "Links",
        "Severity",
        "Window",
    ),
    "driftline.alerts.outbox": (
        "STATUSES",
        "Delivery",
        "EnqueueResult",
        "FlushResult",
        "NotifyResult",
        "OutboxEntry",
        "Status",
        "counts",
        "enqueue",
        "flush",
        "list_entries",
        "notify",
        "render",
        "requeue_failed",
    ),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "CHANNELS",
    "FINDING_KINDS",
    "STATUSES",
    "Alert",
    "AlertChannel",
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
    "flush",
    "list_entries",
    "notify",
    "parse_retry_after",
    "render",
    "requeue_failed",
    "send_message",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'driftline.alerts' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
