"""Alert channels: where an alert goes, and how it gets there.

A channel is one module that registers one :class:`AlertChannel`: its name (what a spec
lists under ``alerts.channels``), where its URL comes from (an environment variable and
the Prefect Secret block the flows read), how an alert is rendered for it and what its
endpoint's answer means. The outbox and delivery know channels only by name, through
``CHANNELS.get(name)``. Built in: ``slack`` (Block Kit, :mod:`.slack`) and ``webhook``
(the alert as plain JSON, :mod:`.webhook`).

A new channel is a module like those two: subclass :class:`AlertChannel`, then
``CHANNELS.register(MyChannel())`` in the module, or name the class in an entry point::

    [project.entry-points."driftline.channels"]
    teams = "my_package.teams:TeamsChannel"

Its URL is read from the environment variable it names (``env_var``); flows also look
for the Prefect Secret block it names (``secret_block``). Nothing else needs an edit.

This module stays cheap to import (spec validation reads :data:`CHANNELS`): no httpx,
no database, nothing from the outbox.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal

from driftline.config.secrets import redact
from driftline.config.times import utc_now
from driftline.plugins import Registry

if TYPE_CHECKING:
    import httpx

    from driftline.alerts.message import Alert
    from driftline.specs.alerts import AlertsSection

PERMANENT_STATUS = frozenset({400, 401, 403, 404, 405, 410, 413, 422})
# Permanent failures that say the URL itself is dead: skip that channel for the rest
# of a flush (other alerts stay pending for a fixed URL) instead of failing them all.
DEAD_URL_STATUS = frozenset({401, 403, 404, 410})


@dataclass(frozen=True)
class SendResult:
    """What sending one message came to: ``sent``, ``retry`` (later) or ``failed``."""

    outcome: Literal["sent", "retry", "failed"]
    error: str = ""
    status_code: int | None = None
    retry_after: float | None = None
    tries: int = 1
    dead_url: bool = False

    @property
    def retryable(self) -> bool:
        return self.outcome == "retry"


class AlertChannel(ABC):
    """One way of delivering alerts: a webhook endpoint that is POSTed a JSON body.

    Subclasses set the class attributes and implement :meth:`render` and
    :meth:`classify`; an instance is registered in :data:`CHANNELS`.
    """

    name: str
    """What a spec's ``alerts.channels`` lists, and what outbox rows record."""
    env_var: str
    """Environment variable holding the endpoint's URL (a secret), e.g.
    ``DRIFTLINE_SLACK_WEBHOOK_URL``. When it is a driftline setting (``DRIFTLINE_`` and a
    field of :class:`~driftline.config.settings.Settings`) the setting's value is used."""
    secret_block: str | None = None
    """Name of the Prefect Secret block flows read the URL from (it wins over the
    environment); None when flows should use the environment only."""
    description: str = ""
    """One line for listings (``driftline plugins``) and the spec reference."""

    @abstractmethod
    def render(self, alert: Alert, config: AlertsSection) -> Any:
        """The JSON body (a JSON-serialisable value) that is POSTed for ``alert``;
        ``config`` is the model's ``alerts:`` section (e.g. how many features to list)."""

    @abstractmethod
    def classify(self, response: httpx.Response) -> SendResult:
        """What the endpoint's answer to one POST means (one try): ``sent``, ``retry``
        later or ``failed`` for good. :func:`refused` handles the usual HTTP statuses."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, env_var={self.env_var!r})"


def _check(channel: Any) -> str | None:
    """Why ``channel`` cannot be an alert channel (None when it can)."""
    missing = [
        attr for attr in ("render", "classify") if not callable(getattr(channel, attr, None))
    ]
    if missing:
        return f"it has no {' or '.join(missing)} method"
    env_var = getattr(channel, "env_var", None)
    if not isinstance(env_var, str) or not env_var:
        return "it names no environment variable for its URL (`env_var`)"
    return None


CHANNELS: Registry[AlertChannel] = Registry(
    "alert channel",
    "driftline.channels",
    ["driftline.alerts.channels.slack", "driftline.alerts.channels.webhook"],
    check=_check,
)
"""Every alert channel by name: the built-ins, entry points and ``CHANNELS.register``."""


# -- reading an endpoint's answer (for classify) ------------------------------------------


def answer_text(response: httpx.Response) -> str:
    """The start of an endpoint's answer, stripped and redacted (it may echo the URL)."""
    return redact(response.text[:300].strip())


def quoted(body: str) -> str:
    """An answer's text as shown in an error: JSON-quoted and clipped, or ``no body``."""
    return json.dumps(body[:200]) if body else "no body"


#: The longest ``Retry-After`` driftline honours, in seconds: a longer one (an endpoint's
#: bug, ``inf``, a date years ahead) is taken as this, so an alert is never parked for
#: longer than an hour by one answer.
MAX_RETRY_AFTER = 3600.0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110: delta-seconds or an HTTP
    date), clamped to ``[0, MAX_RETRY_AFTER]``. Defensive: a negative value or a past
    date is 0; a huge number, ``inf`` or a far-future date is :data:`MAX_RETRY_AFTER`;
    NaN, garbage or an unparsable date is None (the caller's own backoff applies)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until(value, now)
    if seconds is None or math.isnan(seconds):
        return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


def _seconds_until(value: str, now: datetime | None) -> float | None:
    """Seconds from ``now`` to an HTTP date, or None when it is not one."""
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return (when - (now or utc_now())).total_seconds()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def refused(response: httpx.Response, body: str | None = None) -> SendResult:
    """An answer that is not a success: 429 waits ``Retry-After``; 400/401/403/404/405/
    410/413/422 are permanent (401/403/404/410 mark the URL dead); anything else is
    retried later. ``body`` is the :func:`answer_text` when the caller has read it."""
    status = response.status_code
    shown = quoted(answer_text(response) if body is None else body)
    if status == 429:
        wait = parse_retry_after(response.headers.get("Retry-After"))
        return SendResult("retry", f"HTTP 429 rate limited ({shown})", status, wait)
    if status in PERMANENT_STATUS:
        return SendResult(
            "failed", f"HTTP {status} {shown}", status, dead_url=status in DEAD_URL_STATUS
        )
    return SendResult("retry", f"HTTP {status} {shown}", status)


__all__ = [
    "CHANNELS",
    "DEAD_URL_STATUS",
    "MAX_RETRY_AFTER",
    "PERMANENT_STATUS",
    "AlertChannel",
    "SendResult",
    "answer_text",
    "parse_retry_after",
    "quoted",
    "refused",
]
