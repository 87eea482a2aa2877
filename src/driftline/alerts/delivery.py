"""Sending one message to one channel's endpoint: retries, ``Retry-After``, timeouts,
secrecy.

A webhook URL is a secret (anyone holding a Slack incoming-webhook URL can post to the
channel), so it travels as a ``SecretStr`` and is registered with the logging filter of
:mod:`driftline.config.secrets` that redacts it from every record of httpx/httpcore
(httpx logs each request's URL at INFO) and of driftline's alert modules. Error texts
are redacted before they are stored, logged or raised.

What counts as success is the channel's to say (``classify`` of its
:class:`~driftline.alerts.channels.AlertChannel`). 429 waits ``Retry-After`` (up to a cap),
5xx, timeouts and connection errors back off and retry; 400/401/403/404/405/410/413/422
are permanent. Every wait is bounded by a :class:`Deadline`, so a flush never hangs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import tenacity
from pydantic import SecretStr

from driftline.alerts.channels import CHANNELS, AlertChannel, SendResult
from driftline.config.errors import AlertError
from driftline.config.secrets import protect_loggers, redact, register_secret
from driftline.config.settings import Settings

log = logging.getLogger(__name__)

protect_loggers(
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    __name__,
    "driftline.alerts.outbox",
)

#: A URL as given: a string, a ``SecretStr``, or None / blank for "not configured".
Url = str | SecretStr | None


def _checked(url: SecretStr, channel: AlertChannel) -> SecretStr:
    value = url.get_secret_value().strip()
    register_secret(value)
    try:
        parsed = httpx.URL(value)
        valid = parsed.scheme in {"http", "https"} and bool(parsed.host)
    except Exception:
        valid = False
    if not valid:
        raise AlertError(
            f"the {channel.name} webhook URL is not an http(s) URL (it is not shown, being a "
            f"secret); check {channel.env_var} or the Prefect Secret block that holds it"
        )
    return SecretStr(value)


def _secret_or_none(value: Url) -> SecretStr | None:
    if value is None:
        return None
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return SecretStr(text) if text.strip() else None


@dataclass(frozen=True, repr=False)
class Destinations:
    """The endpoint URL of each channel, by channel name (secrets), resolved once per run:
    ``Destinations({"slack": SecretStr(url)})``.

    Each URL is checked (an http(s) URL) and registered for redaction when the value is
    built; None or blank means the channel is not configured. The core cannot read
    Prefect blocks, so a flow loads each channel's Secret block itself and passes the
    values as overrides (:meth:`from_settings`); otherwise the URLs come from each
    channel's environment variable (DRIFTLINE_SLACK_WEBHOOK_URL, DRIFTLINE_WEBHOOK_URL).

    A URL that is not http(s) leaves its channel unusable, with the reason in
    :meth:`problem` (the URL itself never shown), and no other channel affected: one
    plugin's bad variable must not silence every model's alerts. :meth:`require` raises
    AlertError for the channels a caller needs. SpecError for a channel name that is not
    registered.
    """

    urls: Mapping[str, Url] = field(default_factory=dict)
    invalid: Mapping[str, str] = field(default_factory=dict)
    journal: Path | None = None
    """The delivery journal file (:mod:`driftline.alerts.journal`): :meth:`from_settings`
    puts it under the home; None keeps delivery at least once."""

    def __post_init__(self) -> None:
        checked: dict[str, SecretStr] = {}
        invalid: dict[str, str] = dict(self.invalid)
        for name, url in self.urls.items():
            channel = CHANNELS.get(name)
            secret = _secret_or_none(url)
            if secret is None:
                continue
            try:
                checked[name] = _checked(secret, channel)
            except AlertError as exc:
                invalid[name] = str(exc)
        object.__setattr__(self, "urls", MappingProxyType(checked))
        object.__setattr__(self, "invalid", MappingProxyType(invalid))

    @classmethod
    def from_settings(
        cls, settings: Settings, overrides: Mapping[str, Url] | None = None
    ) -> Destinations:
        """Every registered channel's URL: ``overrides[name]`` when given (e.g. a Prefect
        Secret block's value), else the channel's environment variable as read by
        :meth:`Settings.secret <driftline.config.settings.Settings.secret>`."""
        given = dict(overrides or {})
        for name in given:
            CHANNELS.get(name)  # an unknown name is an error, not silently ignored
        urls: dict[str, Url] = {}
        for channel in CHANNELS:
            urls[channel.name] = given.get(channel.name) or settings.secret(channel.env_var)
        return cls(
            urls, journal=settings.home.expanduser().resolve() / "alerts" / "delivered.jsonl"
        )

    def url(self, channel: str) -> SecretStr | None:
        """The channel's URL, or None when it is not configured or not a valid URL."""
        url = self.urls.get(channel)
        return url if isinstance(url, SecretStr) else None

    def problem(self, channel: str) -> str | None:
        """Why alerts cannot go to ``channel`` (no URL, or a malformed one), or None."""
        if channel in self.invalid:
            return self.invalid[channel]
        return None if self.url(channel) is not None else missing_url_message(channel)

    def require(self, channels: Sequence[str]) -> None:
        """AlertError naming the first of ``channels`` whose URL is malformed."""
        for channel in channels:
            if channel in self.invalid:
                raise AlertError(self.invalid[channel])

    def configured(self) -> list[str]:
        """Names of the channels that have a URL, sorted."""
        return sorted(self.urls)

    def __repr__(self) -> str:
        names = sorted(set(CHANNELS.names()) | set(self.urls))
        shown = ", ".join(f"{c}={_state(c, self.urls, self.invalid)}" for c in names)
        return f"Destinations({shown})"

    __str__ = __repr__


def _state(channel: str, urls: Mapping[str, Any], invalid: Mapping[str, str]) -> str:
    if channel in urls:
        return "configured"
    return "invalid" if channel in invalid else "not configured"


def missing_url_message(channel: str) -> str:
    """What to do when an alert is due on a channel that has no URL."""
    if channel not in CHANNELS:
        return f"no URL configured for the {channel} channel: {CHANNELS.unknown(channel)}"
    return (
        f"no URL configured for the {channel} channel: set {CHANNELS.get(channel).env_var} "
        "(flows on a work pool also read the channel's Prefect Secret block: README, "
        "Configuration)"
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


def _post_once(
    client: httpx.Client, channel: AlertChannel, url: SecretStr, content: bytes, timeout: float
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
    return channel.classify(response)


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

    ``channel`` (a registered channel's name) says what its endpoint's answer means.
    Returns the last try's result with the number of tries; never raises for HTTP or
    network trouble and never waits past the deadline (SpecError for an unknown channel).
    """
    kind = CHANNELS.get(channel)
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
            client, kind, url, content, min(policy.request_timeout, deadline.remaining())
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
