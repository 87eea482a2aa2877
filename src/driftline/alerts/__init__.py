"""Alerts: typed messages, delivered through an outbox to registered channels.

Build an :class:`Alert` (a typed value any caller can fill), then
``notify(store, alert, spec.alerts, Destinations.from_settings(settings))``: the alert
is committed to the outbox first, then sent to each channel of the spec (Slack Block
Kit, a generic JSON webhook, or any channel registered in
:data:`~driftline.alerts.channels.CHANNELS`); whatever could not be sent stays pending
for the next run or ``driftline alerts flush``. Webhook URLs are secrets: they are
never logged, stored or printed.

Import from the module that defines a name: :mod:`~driftline.alerts.message` (Alert and
its parts), :mod:`~driftline.alerts.outbox` (enqueue, flush, notify),
:mod:`~driftline.alerts.delivery` (Destinations, DeliveryPolicy),
:mod:`~driftline.alerts.channels` (the registry); spec validation reads only the last,
so this package imports nothing itself.
"""
