"""Outbox rules on a SQLite store in a temp folder: what gets recorded, what is
suppressed as a repeat, what escalates, and that the row exists before any send.
HTTP is answered in-process by httpx's MockTransport (no network)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from driftline.alerts.delivery import DeliveryPolicy, Destinations
from driftline.alerts.message import Alert
from driftline.alerts.outbox import (
    OUTBOX_TABLE,
    counts,
    enqueue,
    flush,
    list_entries,
    requeue_failed,
)
from driftline.data.store import Store
from driftline.specs import AlertsSection

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
URL = "https://hooks.slack.example/services/T0/B0/outbox-unit-token"
SLACK = Destinations({"slack": SecretStr(URL)})
CONFIG = AlertsSection(cooldown_minutes=60, channels=["slack"])


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'driftline.db'}")
    yield store
    store.dispose()


def alert(severity: str = "warning", minutes: float = 0, kind: str = "drift", **kw: Any) -> Alert:
    return Alert(
        model="purchase_propensity",
        kind=kind,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        title=f"{kind} {severity}",
        created_at=T0 + timedelta(minutes=minutes),
        **kw,
    )


def statuses(result: Any) -> list[str]:
    return [e.status for e in result.entries]


def test_a_finding_is_recorded_pending_once_per_channel(sqlite_store: Store) -> None:
    config = AlertsSection(channels=["slack", "webhook"])
    result = enqueue(sqlite_store, alert(), config)
    assert result.skipped is None
    assert [(e.channel, e.status) for e in result.entries] == [
        ("slack", "pending"),
        ("webhook", "pending"),
    ]
    slack, webhook = result.entries
    assert slack.payload()["blocks"][0]["type"] == "header"
    assert webhook.payload()["model"] == "purchase_propensity"
    assert counts(sqlite_store) == {"pending": 2, "sent": 0, "failed": 0, "suppressed": 0}


def test_findings_below_min_severity_are_not_recorded_but_events_always_are(
    sqlite_store: Store,
) -> None:
    quiet = enqueue(sqlite_store, alert("info"), CONFIG)
    assert quiet.entries == [] and "below the spec's min_severity warning" in (quiet.skipped or "")
    # the policy's severity words beside the alert's, as `monitor run` prints them
    assert "alert severity info (the policy's none or low)" in (quiet.skipped or "")
    promoted = enqueue(sqlite_store, alert("info", kind="promoted"), CONFIG)
    assert statuses(promoted) == ["pending"]


def test_disabled_alerts_record_nothing(sqlite_store: Store) -> None:
    result = enqueue(sqlite_store, alert("critical"), AlertsSection(enabled=False))
    assert result.entries == [] and "disabled" in (result.skipped or "")
    assert counts(sqlite_store)["pending"] == 0


def test_repeats_within_the_cooldown_are_suppressed_and_recorded(sqlite_store: Store) -> None:
    first = enqueue(sqlite_store, alert("warning", 0), CONFIG)
    repeat = enqueue(sqlite_store, alert("warning", 30), CONFIG)
    assert statuses(first) == ["pending"] and statuses(repeat) == ["suppressed"]
    note = repeat.entries[0].note or ""
    assert f"repeat of outbox #{first.entries[0].id} (warning" in note
    assert "60-minute cooldown" in note
    after = enqueue(sqlite_store, alert("warning", 61), CONFIG)
    assert statuses(after) == ["pending"]  # cooldown over: a reminder goes out


def test_the_cooldown_counts_from_the_last_alert_that_went_out(sqlite_store: Store) -> None:
    enqueue(sqlite_store, alert("warning", 0), CONFIG)
    assert statuses(enqueue(sqlite_store, alert("warning", 50), CONFIG)) == ["suppressed"]
    # 70 minutes after the first, 20 after the suppressed one: due again
    assert statuses(enqueue(sqlite_store, alert("warning", 70), CONFIG)) == ["pending"]


def test_a_higher_severity_always_goes_out_a_lower_one_does_not(sqlite_store: Store) -> None:
    enqueue(sqlite_store, alert("warning", 0), CONFIG)
    assert statuses(enqueue(sqlite_store, alert("critical", 5), CONFIG)) == ["pending"]
    assert statuses(enqueue(sqlite_store, alert("warning", 10), CONFIG)) == ["suppressed"]
    assert statuses(enqueue(sqlite_store, alert("critical", 15), CONFIG)) == ["suppressed"]


def test_other_keys_channels_and_a_zero_cooldown_are_not_suppressed(sqlite_store: Store) -> None:
    enqueue(sqlite_store, alert("warning", 0), CONFIG)
    assert statuses(enqueue(sqlite_store, alert("warning", 1, kind="quality"), CONFIG)) == [
        "pending"
    ]
    other_key = alert("warning", 2, dedupe_key="purchase_propensity:drift:channel")
    assert statuses(enqueue(sqlite_store, other_key, CONFIG)) == ["pending"]
    webhook = AlertsSection(cooldown_minutes=60, channels=["webhook"])
    assert statuses(enqueue(sqlite_store, alert("warning", 3), webhook)) == ["pending"]
    no_cooldown = AlertsSection(cooldown_minutes=0)
    assert statuses(enqueue(sqlite_store, alert("warning", 4), no_cooldown)) == ["pending"]


def test_lifecycle_events_are_never_repeats_of_each_other(sqlite_store: Store) -> None:
    enqueue(sqlite_store, alert("info", 0, kind="promoted"), CONFIG)
    assert statuses(enqueue(sqlite_store, alert("info", 1, kind="promoted"), CONFIG)) == ["pending"]


def mock_client(answer: Any) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(answer))


def test_a_failed_alert_does_not_suppress_its_repeat(sqlite_store: Store) -> None:
    enqueue(sqlite_store, alert("warning", 0), CONFIG)
    client = mock_client(lambda request: httpx.Response(404, text="no_service"))
    result = flush(sqlite_store, SLACK, client=client)
    assert result.failed == 1
    assert statuses(enqueue(sqlite_store, alert("warning", 5), CONFIG)) == ["pending"]


def test_the_row_is_committed_before_the_request_is_made(sqlite_store: Store) -> None:
    seen_in_outbox: list[dict[str, int]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        # Another connection sees the committed row while the request is in flight.
        seen_in_outbox.append(counts(sqlite_store))
        return httpx.Response(200, text="ok")

    enqueue(sqlite_store, alert(), CONFIG)
    result = flush(sqlite_store, SLACK, client=mock_client(answer))
    assert seen_in_outbox == [{"pending": 1, "sent": 0, "failed": 0, "suppressed": 0}]
    assert result.sent == 1 and result.totals["sent"] == 1


def test_without_a_url_alerts_stay_pending_with_the_reason(sqlite_store: Store) -> None:
    enqueue(sqlite_store, alert(), CONFIG)
    result = flush(sqlite_store, Destinations())
    assert (result.sent, result.not_attempted, result.pending) == (0, 1, 1)
    (entry,) = list_entries(sqlite_store, status="pending")
    assert "DRIFTLINE_SLACK_WEBHOOK_URL" in (entry.last_error or "")
    assert entry.attempts == 0


def test_failed_alerts_can_be_made_pending_again(sqlite_store: Store) -> None:
    enqueue(sqlite_store, alert(), CONFIG)
    flush(
        sqlite_store,
        SLACK,
        client=mock_client(lambda r: httpx.Response(403, text="action_prohibited")),
    )
    (failed,) = list_entries(sqlite_store, status="failed")
    assert "HTTP 403" in (failed.last_error or "")
    assert requeue_failed(sqlite_store) == 1
    result = flush(
        sqlite_store,
        SLACK,
        client=mock_client(lambda r: httpx.Response(200, text="ok")),
    )
    assert result.sent == 1


def test_only_due_rows_are_sent_unless_asked(sqlite_store: Store) -> None:
    enqueue(sqlite_store, alert(), CONFIG)
    flaky = mock_client(lambda r: httpx.Response(503, text="busy"))
    policy = DeliveryPolicy(attempts=1, retry_later_initial=600)
    first = flush(sqlite_store, SLACK, policy, client=flaky)
    assert first.retry_later == 1
    (entry,) = list_entries(sqlite_store, status="pending")
    assert entry.attempts == 1 and "HTTP 503" in (entry.last_error or "")
    assert entry.next_attempt_at > datetime.now(UTC) + timedelta(seconds=500)
    ok = mock_client(lambda r: httpx.Response(200, text="ok"))
    assert flush(sqlite_store, SLACK, client=ok).sent == 0
    assert flush(sqlite_store, SLACK, client=ok, include_not_due=True).sent == 1


def test_the_outbox_table_never_holds_the_url(sqlite_store: Store) -> None:
    enqueue(sqlite_store, alert(), AlertsSection(channels=["slack", "webhook"]))
    flush(
        sqlite_store,
        Destinations({"slack": SecretStr(URL), "webhook": SecretStr(URL)}),
        DeliveryPolicy(attempts=1),
        client=mock_client(lambda r: httpx.Response(500, text=f"upstream said {r.url}")),
    )
    with sqlite_store.engine.connect() as conn:
        dump = repr(conn.exec_driver_sql(f"SELECT * FROM {OUTBOX_TABLE}").fetchall())
    assert "outbox-unit-token" not in dump
    assert "<redacted webhook url>" in dump  # the echoed URL was redacted from the error


def test_recording_the_same_alert_twice_adds_nothing(sqlite_store: Store) -> None:
    config = AlertsSection(cooldown_minutes=0, channels=["slack", "webhook"])
    event = alert("info", kind="promoted")
    first = enqueue(sqlite_store, event, config)
    again = enqueue(sqlite_store, event, config)  # e.g. a retried task
    assert [e.id for e in again.entries] == [e.id for e in first.entries]
    assert counts(sqlite_store)["pending"] == 2


def test_a_flush_out_of_time_tries_nothing_and_keeps_the_last_error(sqlite_store: Store) -> None:
    enqueue(sqlite_store, alert(), CONFIG)
    flaky = mock_client(lambda r: httpx.Response(502, text="bad gateway"))
    flush(sqlite_store, SLACK, DeliveryPolicy(attempts=1), client=flaky)
    called: list[httpx.Request] = []
    late = mock_client(lambda r: called.append(r) or httpx.Response(200, text="ok"))
    result = flush(
        sqlite_store, SLACK, DeliveryPolicy(max_flush_seconds=0), client=late, include_not_due=True
    )
    assert (result.not_attempted, called) == (1, [])
    (entry,) = list_entries(sqlite_store, status="pending")
    assert "HTTP 502" in (entry.last_error or "")
