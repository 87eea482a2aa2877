"""Sending one message: what counts as success, what is retried, how long it waits,
and that the webhook URL stays secret. No network: httpx's MockTransport answers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import SecretStr

from driftline.alerts.channels import CHANNELS, parse_retry_after
from driftline.alerts.delivery import Deadline, DeliveryPolicy, Destinations, send_message
from driftline.config.errors import AlertError
from driftline.config.secrets import redact
from driftline.config.settings import Settings

URL = "https://hooks.slack.example/services/T0SECRET/B0SECRET/unit-test-secret-token"
SECRET = SecretStr(URL)
FAST = DeliveryPolicy(attempts=3, backoff_initial=0.5, backoff_max=4, max_retry_after=10)


def response(status: int, body: str = "", **headers: str) -> httpx.Response:
    return httpx.Response(status, text=body, headers=headers)


def scripted(*answers: httpx.Response | Exception) -> tuple[httpx.Client, list[httpx.Request]]:
    """A client whose transport gives ``answers`` in order and records the requests."""
    queue: Iterator[httpx.Response | Exception] = iter(answers)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = next(queue)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def sleeper() -> tuple[Callable[[float], None], list[float]]:
    waits: list[float] = []
    return waits.append, waits


@pytest.mark.parametrize(
    ("channel", "status", "body", "outcome"),
    [
        ("slack", 200, "ok", "sent"),
        ("slack", 200, "", "retry"),  # Slack's success is 200 *and* body "ok"
        ("slack", 204, "", "retry"),
        ("webhook", 204, "", "sent"),
        ("webhook", 202, "queued", "sent"),
        ("slack", 500, "internal_error", "retry"),
        ("slack", 503, "", "retry"),
        ("slack", 400, "invalid_payload", "failed"),
        ("slack", 403, "action_prohibited", "failed"),
        ("slack", 404, "no_service", "failed"),
        ("slack", 410, "channel_is_archived", "failed"),
        ("webhook", 302, "", "retry"),
    ],
)
def test_answers_are_classified(channel: str, status: int, body: str, outcome: str) -> None:
    result = CHANNELS.get(channel).classify(response(status, body))
    assert result.outcome == outcome
    if outcome != "sent":
        assert f"HTTP {status}" in result.error
        if body:
            assert body in result.error


def test_revoked_or_forbidden_urls_are_marked_dead_but_a_bad_payload_is_not() -> None:
    slack = CHANNELS.get("slack")
    assert slack.classify(response(404, "no_service")).dead_url
    assert slack.classify(response(410)).dead_url
    assert not slack.classify(response(400, "invalid_payload")).dead_url


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    answer = response(429, "rate_limited", **{"Retry-After": "7"})
    assert CHANNELS.get("slack").classify(answer).retry_after == 7


def test_429_waits_exactly_retry_after_then_sends() -> None:
    client, seen = scripted(
        response(429, "rate_limited", **{"Retry-After": "2"}), response(200, "ok")
    )
    sleep, waits = sleeper()
    result = send_message(client, "slack", SECRET, "{}", FAST, Deadline(60), sleep=sleep)
    assert (result.outcome, result.tries, waits) == ("sent", 2, [2.0])
    assert len(seen) == 2


def test_a_retry_after_beyond_the_cap_is_not_waited_within_the_flush() -> None:
    client, seen = scripted(response(429, "rate_limited", **{"Retry-After": "120"}))
    sleep, waits = sleeper()
    result = send_message(client, "slack", SECRET, "{}", FAST, Deadline(60), sleep=sleep)
    assert (result.outcome, result.retry_after, waits, len(seen)) == ("retry", 120, [], 1)


def test_5xx_and_connection_errors_back_off_then_give_up_after_the_attempts() -> None:
    client, seen = scripted(
        response(500, "internal_error"),
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ReadTimeout("timed out"),
    )
    sleep, waits = sleeper()
    result = send_message(client, "slack", SECRET, "{}", FAST, Deadline(60), sleep=sleep)
    assert result.outcome == "retry"
    assert result.tries == 3 and len(seen) == 3
    assert "timed out" in result.error
    assert len(waits) == 2 and all(0 < w <= FAST.backoff_max for w in waits)


def test_a_permanent_refusal_is_not_retried() -> None:
    client, seen = scripted(response(400, "invalid_payload"))
    sleep, waits = sleeper()
    result = send_message(client, "slack", SECRET, "{}", FAST, Deadline(60), sleep=sleep)
    assert (result.outcome, len(seen), waits) == ("failed", 1, [])
    assert "invalid_payload" in result.error


def test_no_request_starts_and_no_wait_runs_past_the_deadline() -> None:
    client, seen = scripted(response(200, "ok"))
    result = send_message(
        client,
        "slack",
        SECRET,
        "{}",
        FAST,
        Deadline(0),
        sleep=lambda s: None,
    )
    assert (result.outcome, result.tries, len(seen)) == ("retry", 0, 0)
    client, seen = scripted(response(429, "", **{"Retry-After": "5"}))
    sleep, waits = sleeper()
    result = send_message(client, "slack", SECRET, "{}", FAST, Deadline(3), sleep=sleep)
    assert (result.outcome, waits, len(seen)) == ("retry", [], 1)  # 5 s wait > 3 s left


def test_the_body_is_posted_as_json_to_the_url() -> None:
    client, seen = scripted(response(200, "ok"))
    send_message(client, "slack", SECRET, '{"text":"hé"}', FAST, Deadline(5))
    assert str(seen[0].url) == URL
    assert seen[0].content == '{"text":"hé"}'.encode()
    assert seen[0].headers["content-type"].startswith("application/json")


def test_destinations_prefer_explicit_urls_then_settings() -> None:
    settings = Settings(slack_webhook_url="https://hooks.example/a/settings-secret-path")
    from_settings = Destinations.from_settings(settings)
    slack = from_settings.url("slack")
    assert slack is not None and from_settings.url("webhook") is None
    assert slack.get_secret_value().endswith("settings-secret-path")
    explicit = Destinations.from_settings(settings, {"slack": URL, "webhook": SECRET})
    slack = explicit.url("slack")
    assert slack is not None and slack.get_secret_value() == URL
    assert explicit.configured() == ["slack", "webhook"]
    assert URL not in repr(explicit) and URL not in str(explicit)
    assert "slack=configured" in repr(explicit)


@pytest.mark.parametrize(
    "bad",
    [
        "hooks.slack.com/services/T0/B0/bad-secret-xyz",
        "ftp://x/bad-secret-xyz",
        "https:///bad-secret-xyz",
    ],
)
def test_a_malformed_url_is_an_error_that_does_not_show_it(bad: str) -> None:
    destinations = Destinations({"slack": SecretStr(bad), "webhook": SECRET})
    assert destinations.url("slack") is None
    assert destinations.url("webhook") is not None  # the other channel still works
    problem = destinations.problem("slack") or ""
    assert "DRIFTLINE_SLACK_WEBHOOK_URL" in problem and "bad-secret-xyz" not in problem
    assert "bad-secret-xyz" not in repr(destinations)
    with pytest.raises(AlertError, match="DRIFTLINE_SLACK_WEBHOOK_URL") as caught:
        destinations.require(["slack"])
    assert "bad-secret-xyz" not in str(caught.value)
    destinations.require(["webhook"])  # nothing wrong there


def test_registered_urls_are_redacted_from_httpx_logs_and_texts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    Destinations({"webhook": SECRET})
    caplog.set_level(logging.DEBUG)
    logging.getLogger("httpx").info("HTTP Request: %s %s %s", "POST", httpx.URL(URL), "200")
    assert URL not in caplog.text and "unit-test-secret-token" not in caplog.text
    assert "<redacted webhook url>" in caplog.text
    path_only = "/services/T0SECRET/B0SECRET/unit-test-secret-token"
    assert "unit-test-secret-token" not in redact(f"GET {path_only} failed")
