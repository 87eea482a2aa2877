"""The ``alerts:`` section: severity threshold, repeat suppression, channels."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from driftline.alerts.channels import CHANNELS
from driftline.specs.common import Section


def _registered(name: str) -> str:
    """``name`` when it is a registered alert channel; the error lists those that are."""
    if name not in CHANNELS:
        raise ValueError(CHANNELS.unknown(name))
    return name


#: The name of a registered alert channel (see driftline.alerts.channels).
ChannelName = Annotated[str, AfterValidator(_registered)]


def _default_channels() -> list[ChannelName]:
    return ["slack"]


class AlertsSection(Section):
    """Who hears about what: severity threshold, repeat suppression and channels.

    Drift, data-quality and performance findings alert at or above ``min_severity``;
    lifecycle events (retrain started, challenger promoted or rejected, rollback, a
    failed flow) always alert. Webhook URLs are secrets and never appear here: each
    channel reads its own from the environment (DRIFTLINE_SLACK_WEBHOOK_URL,
    DRIFTLINE_WEBHOOK_URL) or a Prefect Secret block.
    """

    enabled: bool = Field(default=True, description="Send alerts for this model at all.")
    min_severity: Literal["info", "warning", "critical"] = Field(
        default="warning",
        description="Lowest severity of a drift, data-quality or performance finding "
        "that alerts (info < warning < critical). Lifecycle events always alert.",
    )
    cooldown_minutes: int = Field(
        default=720,
        ge=0,
        description="A repeat of the same finding (same dedupe key) within this many "
        "minutes of the last one sent is recorded as suppressed instead of sent, unless "
        "its severity is higher (escalation always goes out). 0 sends every repeat.",
    )
    channels: list[ChannelName] = Field(
        default_factory=_default_channels,
        description="Where alerts go: 'slack' (incoming webhook, Block Kit) and/or "
        "'webhook' (the alert as plain JSON, for other tools), or any other registered "
        "alert channel (driftline.alerts.channels.CHANNELS).",
    )
    max_features: int = Field(
        default=10,
        ge=1,
        le=50,
        description="Drifted features listed in a Slack message; the rest are summarised "
        "as 'and N more'.",
    )
    max_findings: int = Field(
        default=10,
        ge=1,
        le=50,
        description="Data-quality, performance findings and failing gates listed per "
        "section of a Slack message; the rest are summarised as 'and N more'.",
    )

    @field_validator("channels")
    @classmethod
    def _channels_unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("list each channel once")
        return value
