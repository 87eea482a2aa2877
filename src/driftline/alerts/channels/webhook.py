"""The ``webhook`` channel: any HTTP endpoint, sent the alert itself as plain JSON.

For tools other than Slack (an incident manager, a chat bridge, your own service). The
URL comes from DRIFTLINE_WEBHOOK_URL, or in flows from the Prefect Secret block
``driftline-webhook``. Any 2xx answer is success.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from driftline.alerts.channels import CHANNELS, AlertChannel, SendResult, refused

if TYPE_CHECKING:
    import httpx

    from driftline.alerts.message import Alert
    from driftline.specs.alerts import AlertsSection


def webhook_payload(alert: Alert) -> dict[str, Any]:
    """The JSON body for the generic webhook: the alert itself, every field, as JSON."""
    return alert.model_dump(mode="json")


class WebhookChannel(AlertChannel):
    """A generic JSON webhook: the alert as JSON; any 2xx is success."""

    name = "webhook"
    env_var = "DRIFTLINE_WEBHOOK_URL"
    secret_block = "driftline-webhook"
    description = "generic webhook (the alert as plain JSON, for other tools)"

    def render(self, alert: Alert, config: AlertsSection) -> dict[str, Any]:
        """:func:`webhook_payload` (every field of the alert; ``config`` limits nothing)."""
        return webhook_payload(alert)

    def classify(self, response: httpx.Response) -> SendResult:
        """Sent on any 2xx; see :func:`~driftline.alerts.channels.refused` for the rest."""
        if 200 <= response.status_code < 300:
            return SendResult("sent", status_code=response.status_code)
        return refused(response)


CHANNELS.register(WebhookChannel())
