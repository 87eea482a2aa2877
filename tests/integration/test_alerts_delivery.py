"""Delivery through the outbox against a real local HTTP receiver, on SQLite and on
PostgreSQL: 429 Retry-After honoured, 500s and hangs retried then left pending,
permanent refusals marked failed, nothing lost across a crash, repeats suppressed,
escalation sent, and the webhook URL never logged or stored."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from driftline.alerts import outbox as outbox_module
from driftline.alerts.channels.slack import slack_limit_violations
from driftline.alerts.delivery import DeliveryPolicy, Destinations
from driftline.alerts.message import Alert, FeatureDrift, Finding, Links
from driftline.alerts.outbox import OUTBOX_TABLE, enqueue, flush, list_entries, notify
from driftline.data.store import Store
from driftline.devtools.receiver import LocalReceiver, Reply
from driftline.specs import AlertsSection

FAST = DeliveryPolicy(
    request_timeout=0.5,
    attempts=3,
    backoff_initial=0.05,
    backoff_max=0.2,
    max_retry_after=2,
    max_flush_seconds=10,
)
CONFIG = AlertsSection(cooldown_minutes=60, channels=["slack"])
SECRET_PATH = "/services/TSECRET01/BSECRET02/integration-secret-token"


@pytest.fixture
def receiver() -> Iterator[LocalReceiver]:
    with LocalReceiver(path=SECRET_PATH) as rx:
        yield rx


def slack_to(rx: LocalReceiver) -> Destinations:
    return Destinations({"slack": SecretStr(rx.url)})


def drift_alert(severity: str = "warning", n_features: int = 3, **kw: Any) -> Alert:
    return Alert(
        model="purchase_propensity",
        kind="drift",
        severity=severity,  # type: ignore[arg-type]
        title=f"Drift in {n_features} of 14 features",
        decision="alert",
        drift_share=0.5,
        rows=2400,
        drifted_features=[
            FeatureDrift(column=f"feature_{i}", method="wasserstein", score=0.5 - i * 1e-3)
            for i in range(n_features)
        ],
        **kw,
    )


def only_entry(store: Store, alert: Alert) -> Any:
    (entry,) = [e for e in list_entries(store, limit=1000) if e.alert_id == alert.alert_id]
    return entry


def test_an_alert_reaches_slack_and_the_webhook_and_is_marked_sent(
    store: Store, receiver: LocalReceiver
) -> None:
    alert = drift_alert(
        n_features=300,
        quality=[Finding(name="missing share: recency_days", value=0.2)],
        links=Links(report_file="/tmp/report.html"),
    )
    config = AlertsSection(channels=["slack", "webhook"])
    destinations = Destinations(
        {"slack": SecretStr(receiver.url), "webhook": SecretStr(receiver.url)}
    )
    result = notify(store, alert, config, destinations, FAST)
    assert result.status_of("slack") == "sent" and result.status_of("webhook") == "sent"
    slack, webhook = receiver.payloads()
    assert slack_limit_violations(slack) == []
    sections = [b["text"]["text"] for b in slack["blocks"] if "text" in b]
    assert any(
        t.startswith("*Top drifted features*") and t.endswith("… and 290 more") for t in sections
    )
    assert Alert.model_validate(webhook) == alert
    assert [e.status for e in list_entries(store)] == ["sent", "sent"]
    assert all(e.sent_at is not None and e.attempts == 1 for e in list_entries(store))


def test_429_retry_after_is_honoured_then_the_alert_is_sent(
    store: Store, receiver: LocalReceiver
) -> None:
    receiver.script(Reply.rate_limited(retry_after=1), Reply.ok())
    result = notify(store, drift_alert(), CONFIG, slack_to(receiver), FAST)
    assert result.status_of("slack") == "sent"
    first, second = receiver.requests
    assert first.reply.status == 429 and second.reply.status == 200
    assert second.monotonic - first.monotonic >= 0.95  # waited the 1 s Slack asked for
    assert first.body == second.body


def test_a_retry_after_beyond_the_cap_leaves_the_alert_pending_until_then(
    store: Store, receiver: LocalReceiver
) -> None:
    receiver.script(Reply.rate_limited(retry_after=30))
    before = datetime.now(UTC)
    alert = drift_alert()
    result = notify(store, alert, CONFIG, slack_to(receiver), FAST)
    assert result.status_of("slack") == "pending"
    assert len(receiver.requests) == 1
    entry = only_entry(store, alert)
    assert "HTTP 429" in entry.last_error
    assert entry.next_attempt_at >= before + timedelta(seconds=30)


def test_500s_are_retried_with_backoff_then_left_pending_and_sent_by_a_later_flush(
    store: Store, receiver: LocalReceiver
) -> None:
    receiver.script(*[Reply.server_error()] * 3)
    alert = drift_alert()
    result = notify(store, alert, CONFIG, slack_to(receiver), FAST)
    assert result.status_of("slack") == "pending"
    assert [r.reply.status for r in receiver.requests] == [500, 500, 500]
    entry = only_entry(store, alert)
    assert (entry.status, entry.attempts) == ("pending", 3)
    assert 'HTTP 500 "internal_error"' in entry.last_error
    assert entry.next_attempt_at > datetime.now(UTC)
    # Not due yet: the next run leaves it alone; once due, it goes out.
    assert flush(store, slack_to(receiver), FAST).sent == 0
    later = datetime.now(UTC) + timedelta(hours=2)
    assert flush(store, slack_to(receiver), FAST, now=later).sent == 1
    assert only_entry(store, alert).status == "sent"
    assert len(receiver.requests) == 4


def test_a_hanging_endpoint_times_out_is_retried_and_left_pending(
    store: Store, receiver: LocalReceiver
) -> None:
    receiver.script(Reply.hang(3), Reply.hang(3))
    policy = DeliveryPolicy(request_timeout=0.3, attempts=2, backoff_initial=0.05)
    alert = drift_alert()
    result = notify(store, alert, CONFIG, slack_to(receiver), policy)
    assert result.status_of("slack") == "pending"
    assert receiver.wait_for(2) and len(receiver.requests) == 2
    entry = only_entry(store, alert)
    assert entry.attempts == 2 and "timed out" in entry.last_error


def test_an_unreachable_endpoint_is_retried_and_left_pending(store: Store) -> None:
    with LocalReceiver(path=SECRET_PATH) as gone:
        url = gone.url  # the port is closed once this block ends
    alert = drift_alert()
    result = notify(store, alert, CONFIG, Destinations({"slack": SecretStr(url)}), FAST)
    assert result.status_of("slack") == "pending"
    assert "connection error" in only_entry(store, alert).last_error


def test_permanent_refusals_are_marked_failed_and_not_retried(
    store: Store, receiver: LocalReceiver
) -> None:
    receiver.script(Reply.invalid_payload())
    alert = drift_alert()
    result = notify(store, alert, CONFIG, slack_to(receiver), FAST)
    assert result.status_of("slack") == "failed"
    entry = only_entry(store, alert)
    assert entry.attempts == 1 and 'HTTP 400 "invalid_payload"' in entry.last_error
    later = datetime.now(UTC) + timedelta(days=1)
    assert flush(store, slack_to(receiver), FAST, now=later, include_not_due=True).sent == 0
    assert len(receiver.requests) == 1


def test_a_revoked_webhook_fails_one_alert_and_keeps_the_rest_pending(
    store: Store, receiver: LocalReceiver
) -> None:
    first = drift_alert(dedupe_key="a")
    second = drift_alert(dedupe_key="b")
    enqueue(store, first, CONFIG)
    enqueue(store, second, CONFIG)
    receiver.script(Reply.no_service())
    result = flush(store, slack_to(receiver), FAST)
    assert (result.failed, result.not_attempted, result.pending) == (1, 1, 1)
    assert only_entry(store, first).status == "failed"
    assert "no_service" in only_entry(store, second).last_error
    assert len(receiver.requests) == 1


def test_nothing_is_lost_when_the_process_dies_between_writing_and_sending(
    store: Store, receiver: LocalReceiver
) -> None:
    url = store.engine.url
    alert = drift_alert()

    def run_that_crashes() -> None:
        enqueue(store, alert, CONFIG)
        raise RuntimeError("worker killed before sending")

    with pytest.raises(RuntimeError):
        run_that_crashes()
    store.dispose()
    assert receiver.requests == []
    restarted = Store(url.render_as_string(hide_password=False))
    try:
        result = flush(restarted, slack_to(receiver), FAST)
        assert result.sent == 1
        assert receiver.payloads()[0]["text"].startswith("[WARNING] purchase_propensity")
        assert only_entry(restarted, alert).status == "sent"
    finally:
        restarted.dispose()


def test_nothing_is_lost_when_sending_crashes_mid_flight(
    store: Store, receiver: LocalReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # the process is being killed mid-request

    monkeypatch.setattr(outbox_module, "send_message", crash)
    alert = drift_alert()
    with pytest.raises(KeyboardInterrupt):
        notify(store, alert, CONFIG, slack_to(receiver), FAST)
    monkeypatch.undo()
    assert only_entry(store, alert).status == "pending"
    # The crashed flush's lease keeps a concurrent flush off the row until it expires...
    assert flush(store, slack_to(receiver), FAST).sent == 0
    # ...after which the next run sends it.
    after_lease = datetime.now(UTC) + timedelta(minutes=10)
    assert flush(store, slack_to(receiver), FAST, now=after_lease).sent == 1
    assert len(receiver.requests) == 1


def test_repeats_are_suppressed_and_escalation_is_sent(
    store: Store, receiver: LocalReceiver
) -> None:
    t0 = datetime(2026, 3, 1, 6, tzinfo=UTC)
    severities = ["warning", "warning", "critical", "critical", "warning"]
    results = [
        notify(
            store,
            drift_alert(s, created_at=t0 + timedelta(minutes=10 * i)),
            CONFIG,
            slack_to(receiver),
            FAST,
        )
        for i, s in enumerate(severities)
    ]
    assert [r.status_of("slack") for r in results] == [
        "sent",
        "suppressed",
        "sent",
        "suppressed",
        "suppressed",
    ]
    headers = [p["blocks"][0]["text"]["text"] for p in receiver.payloads()]
    assert len(headers) == 2
    assert "WARNING" in headers[0] and "CRITICAL" in headers[1]


def test_the_webhook_channel_takes_any_2xx_slack_only_200_ok(
    store: Store, receiver: LocalReceiver
) -> None:
    receiver.script(Reply(204, ""), Reply(204, ""))
    config = AlertsSection(channels=["webhook", "slack"])
    destinations = Destinations(
        {"slack": SecretStr(receiver.url), "webhook": SecretStr(receiver.url)}
    )
    policy = DeliveryPolicy(request_timeout=0.5, attempts=1)
    result = notify(store, drift_alert(), config, destinations, policy)
    assert result.status_of("webhook") == "sent"
    assert result.status_of("slack") == "pending"


def test_the_webhook_url_never_appears_in_logs_rows_results_or_errors(
    store: Store, receiver: LocalReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.script(
        Reply.ok(),
        Reply.server_error(),
        Reply.server_error(),
        Reply.hang(2),
        Reply.invalid_payload(),
    )
    results: list[Any] = []
    policy = DeliveryPolicy(request_timeout=0.3, attempts=3, backoff_initial=0.02)
    for key in ("ok", "retried", "failed"):
        results.append(
            notify(store, drift_alert(dedupe_key=key), CONFIG, slack_to(receiver), policy)
        )
    with LocalReceiver(path=SECRET_PATH) as gone:
        dead = gone.url
    results.append(
        notify(
            store,
            drift_alert(dedupe_key="x"),
            CONFIG,
            Destinations({"slack": SecretStr(dead)}),
            policy,
        )
    )
    malformed = Destinations({"slack": SecretStr("hooks.slack.com" + SECRET_PATH)})
    with pytest.raises(Exception) as bad:
        malformed.require(["slack"])
    with store.engine.connect() as conn:
        rows = repr(conn.execute(sa.text(f"SELECT * FROM {OUTBOX_TABLE}")).fetchall())
    statuses = [r.status_of("slack") for r in results]
    assert statuses == ["sent", "pending", "failed", "pending"]  # every path was taken
    assert "HTTP Request: POST" in caplog.text  # httpx did log its requests...
    texts = (caplog.text, rows, repr(results), str(bad.value), repr(malformed))
    for where in (*texts, repr(slack_to(receiver))):
        assert "integration-secret-token" not in where  # ...without the secret path
        assert receiver.url not in where and dead not in where


def test_a_retried_task_that_notifies_again_does_not_send_twice(
    store: Store, receiver: LocalReceiver
) -> None:
    event = Alert(model="purchase_propensity", kind="promoted", severity="info", title="v4 won")
    config = AlertsSection(cooldown_minutes=0)
    first = notify(store, event, config, slack_to(receiver), FAST)
    again = notify(store, event, config, slack_to(receiver), FAST)
    assert first.status_of("slack") == again.status_of("slack") == "sent"
    assert len(receiver.payloads()) == 1
