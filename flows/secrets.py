"""Secrets for flows: a Prefect Secret block when one exists, else the environment.

The core never imports Prefect, so flows resolve the block here and pass the value in.
Never pass a secret as a flow parameter: Prefect records parameters in the UI.
"""

from __future__ import annotations

import logging

SLACK_BLOCK = "driftline-slack-webhook"
WEBHOOK_BLOCK = "driftline-webhook"

log = logging.getLogger(__name__)


def secret_value(block_name: str) -> str | None:
    """The value of the Secret block ``block_name``, or None when there is no such block."""
    from prefect.blocks.system import Secret

    try:
        value = Secret.load(block_name).get()
    except ValueError:  # no block document of that name
        return None
    return str(value) if value else None


def alert_urls() -> dict[str, str | None]:
    """Slack and generic webhook URLs from Secret blocks (None: use DRIFTLINE_* env)."""
    return {"slack_url": secret_value(SLACK_BLOCK), "webhook_url": secret_value(WEBHOOK_BLOCK)}
