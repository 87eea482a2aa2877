"""Sending one message to one webhook: retries, ``Retry-After``, timeouts, secrecy.

A webhook URL is a secret (anyone holding a Slack incoming-webhook URL can post to the
channel), so it travels as a ``SecretStr`` and is registered with a logging filter that
redacts it from every record of httpx/httpcore (httpx logs each request's URL at INFO)
and of driftline's alert modules. Error texts are redacted before they are stored,
logged or raised.

Success is Slack's ``200 ok`` (the body must be ``ok``) or any 2xx for the generic
webhook. 429 waits ``Retry-After`` (up to a cap), 5xx, timeouts and connection errors
back off and retry; 400/401/403/404/405/410/413/422 are permanent. Every wait is bounded
by a :class:`Deadline`, so a flush never hangs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx
import tenacity
from pydantic import SecretStr

from driftline.config.errors import AlertError
from driftline.config.secrets import protect_loggers, redact, register_secret
from driftline.config.settings import Settings

log = logging.getLogger(__name__)

Channel = Literal["slack", "webhook"]
CHANNELS: tuple[Channel, ...] = ("slack", "webhook")
PERMANENT_STATUS = frozenset({400, 401, 403, 404, 405, 410, 413, 422})
# Permanent failures that say the URL itself is dead: skip that channel for the rest
# of a flush (other alerts stay pending for a fixed URL) instead of failing them all.
DEAD_URL_STATUS = frozenset({401, 403, 404, 410})
_ENV = {"slack": "DRIFTLINE_SLACK_WEBHOOK_URL", "webhook": "DRIFTLINE_WEBHOOK_URL"}


protect_loggers(
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    __name__,
    "driftline.alerts.outbox",
)


def _checked(url: str | SecretStr, channel: Channel) -> SecretStr:
    value = url.get_secret_value() if isinstance(url, SecretStr) else url
    value = value.strip()
    register_secret(value)
    try:
        parsed = httpx.URL(value)
        valid = parsed.scheme in {"http", "https"} and bool(parsed.host)
    except Exception:
        valid = False
    if not valid:
        raise AlertError(
            f"the {channel} webhook URL is not an http(s) URL (it is not shown, being a "
            f"secret); check {_ENV[channel]} or the Prefect Secret block that holds it"
        )
    return SecretStr(value)


@dataclass(frozen=True, repr=False)
class Destinations:
    """The webhook URL of each channel (secrets), resolved once per run.

    The core cannot read Prefect blocks, so a flow loads a Secret block itself and
    passes its value (``Destinations.from_settings(s, slack_url=Secret.load(n).get())``);
    otherwise the URLs come from DRIFTLINE_SLACK_WEBHOOK_URL / DRIFTLINE_WEBHOOK_URL.
    """

    slack: SecretStr | None = None
    webhook: SecretStr | None = None

    def __post_init__(self) -> None:
        for channel in CHANNELS:
            url = getattr(self, channel)
            if url is not None:
                object.__setattr__(self, channel, _checked(url, channel))

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        slack_url: str | SecretStr | None = None,
        webhook_url: str | SecretStr | None = None,
    ) -> Destinations:
        """URLs given here (e.g. a Prefect Secret block's value) win over settings."""
        slack = slack_url if slack_url else settings.slack_webhook_url
        webhook = webhook_url if webhook_url else settings.webhook_url
        return cls(slack=_secret_or_none(slack), webhook=_secret_or_none(webhook))

    def url(self, channel: str) -> SecretStr | None:
        """The channel's URL, or None when it is not configured."""
        return getattr(self, channel, None) if channel in CHANNELS else None

    def configured(self) -> list[Channel]:
        return [c for c in CHANNELS if getattr(self, c) is not None]

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{c}={'configured' if getattr(self, c) is not None else 'not configured'}"
            for c in CHANNELS
        )
        return f"Destinations({shown})"

    __str__ = __repr__


def _secret_or_none(value: str | SecretStr | None) -> SecretStr | None:
    if value is None:
        return None
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return SecretStr(text) if text.strip() else None


def missing_url_message(channel: str) -> str:
    """What to do when an alert is due on a channel that has no URL."""
    return (
        f"no {channel} webhook URL configured: set {_ENV.get(channel, channel)} or pass "
        "the URL (e.g. a Prefect Secret block's value) to Destinations.from_settings"
    )


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard one flush tries, and how long it may take in total."""

    request_timeout: float = 10.0
    """Seconds one HTTP request may take (connect, send, wait for the answer)."""
    attempts: int = 3
    """HTTP tries per message within one flush (429s and 5xx count as tries)."""
    backoff_initial: float = 1.0
    """First wait before retrying a 5xx/connection error; doubles each try (with jitter)."""
    backoff_max: float = 10.0
    """Longest wait between two tries within a flush."""
    max_retry_after: float = 30.0
    """Longest 429 ``Retry-After`` waited within a flush; longer ones leave it pending."""
    max_flush_seconds: float = 60.0
    """Time budget of one flush: no request starts and no wait runs past it."""
    retry_later_initial: float = 60.0
    """After a flush gives up on a message, seconds until it is due again; doubles."""
    retry_later_max: float = 3600.0
    """Longest delay until a pending message is due again."""
    batch_size: int = 200
    """Most messages one flush picks up (oldest first)."""

    def retry_later(self, attempts: int) -> float:
        """Seconds until a message that has had ``attempts`` tries is due again."""
        exponent = max(0, min(attempts - 1, 20))
        return min(self.retry_later_max, self.retry_later_initial * 2**exponent)


class Deadline:
    """A monotonic-clock time budget."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + max(0.0, seconds)

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0.0


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


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify(channel: str, response: httpx.Response) -> SendResult:
    """Turn a webhook's answer into a :class:`SendResult` (one try)."""
    status = response.status_code
    body = redact(response.text[:300].strip())
    ok = (status == 200 and body == "ok") if channel == "slack" else 200 <= status < 300
    if ok:
        return SendResult("sent", status_code=status)
    shown = json.dumps(body[:200]) if body else "no body"
    if status == 429:
        wait = parse_retry_after(response.headers.get("Retry-After"))
        return SendResult("retry", f"HTTP 429 rate limited ({shown})", status, wait)
    if status in PERMANENT_STATUS:
        return SendResult(
            "failed", f"HTTP {status} {shown}", status, dead_url=status in DEAD_URL_STATUS
        )
    if status == 200:
        return SendResult("retry", f'HTTP 200 but the body was {shown}, not "ok"', status)
    return SendResult("retry", f"HTTP {status} {shown}", status)


def _post_once(
    client: httpx.Client, channel: str, url: SecretStr, content: bytes, timeout: float
) -> SendResult:
    if timeout <= 0.0:
        return SendResult("retry", "the flush's time budget ran out before sending", tries=0)
    try:
        response = client.post(
            url.get_secret_value(),
            content=content,
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=timeout,
        )
    except httpx.TimeoutException as exc:
        return SendResult("retry", f"timed out after {timeout:.3g}s ({type(exc).__name__})")
    except httpx.TransportError as exc:
        return SendResult("retry", f"connection error: {type(exc).__name__}: {redact(str(exc))}")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return SendResult("failed", f"request error: {type(exc).__name__}: {redact(str(exc))}")
    return classify(channel, response)


def send_message(
    client: httpx.Client,
    channel: str,
    url: SecretStr,
    body: str,
    policy: DeliveryPolicy,
    deadline: Deadline,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> SendResult:
    """POST ``body`` to ``url`` with the policy's retries, all within ``deadline``.

    Returns the last try's result with the number of tries; never raises for HTTP or
    network trouble and never waits past the deadline.
    """
    content = body.encode("utf-8")
    backoff = tenacity.wait_exponential_jitter(
        initial=policy.backoff_initial, max=policy.backoff_max, jitter=policy.backoff_initial
    )

    def wait(state: tenacity.RetryCallState) -> float:
        result: SendResult = state.outcome.result()  # type: ignore[union-attr]
        if result.retry_after is not None:
            return result.retry_after
        return float(backoff(state))

    def stop(state: tenacity.RetryCallState) -> bool:
        result: SendResult = state.outcome.result()  # type: ignore[union-attr]
        if state.attempt_number >= policy.attempts or result.tries == 0:
            return True
        if result.retry_after is not None and result.retry_after > policy.max_retry_after:
            return True
        return state.upcoming_sleep >= deadline.remaining()

    def before_sleep(state: tenacity.RetryCallState) -> None:
        result: SendResult = state.outcome.result()  # type: ignore[union-attr]
        log.info("%s webhook: %s; retrying in %.1fs", channel, result.error, state.upcoming_sleep)

    def give_up(state: tenacity.RetryCallState) -> SendResult:
        result: SendResult = state.outcome.result()  # type: ignore[union-attr]
        return result

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_result(lambda r: r.retryable),
        wait=wait,
        stop=stop,
        sleep=sleep,
        before_sleep=before_sleep,
        retry_error_callback=give_up,
    )
    tries = 0

    def attempt() -> SendResult:
        nonlocal tries
        result = _post_once(
            client, channel, url, content, min(policy.request_timeout, deadline.remaining())
        )
        tries += result.tries
        return result

    final: SendResult = retrying(attempt)
    return SendResult(
        final.outcome, final.error, final.status_code, final.retry_after, tries, final.dead_url
    )


def http_client() -> httpx.Client:
    """The HTTP client deliveries use: no redirects (a redirect is not a delivery)."""
    return httpx.Client(follow_redirects=False, headers={"User-Agent": "driftline-alerts"})
