"""Secrets for flows: a Prefect Secret block when one exists, else the environment.

The core never imports Prefect, so flows resolve the blocks here and pass the values in.
Never pass a secret as a flow parameter: Prefect records parameters in the UI.
"""

from __future__ import annotations

import logging

from pydantic import SecretStr

from driftline.alerts.channels import CHANNELS

log = logging.getLogger(__name__)


def secret_value(block_name: str) -> str | None:
    """The value of the Secret block ``block_name``, or None when there is no such block."""
    from prefect.blocks.system import Secret

    try:
        value = Secret.load(block_name).get()
    except ValueError:  # no block document of that name
        return None
    return str(value) if value else None


def channel_urls() -> dict[str, SecretStr]:
    """Each alert channel's URL from the Prefect Secret block the channel names, by
    channel name (``{"slack": ...}``); a channel without a block is left out, so its
    environment variable applies (``Destinations.from_settings(settings, overrides)``)."""
    urls: dict[str, SecretStr] = {}
    for channel in CHANNELS:
        value = secret_value(channel.secret_block) if channel.secret_block else None
        if value:
            urls[channel.name] = SecretStr(value)
    return urls
