"""Lifecycle alerts into a real SQLite outbox and out to the local receiver: recorded and
sent, recorded and left pending when the URL is broken, logged (never raised) when the
store cannot be reached."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from driftline.alerts.lifecycle import delivery_note, flow_failed_alert, retrain_started_alert
from driftline.alerts.outbox import list_entries
from driftline.config.settings import Settings
from driftline.data.store import Store
from driftline.devtools.receiver import LocalReceiver
from driftline.lifecycle.promotion import PromotionOutcome
from driftline.sdk import notify_event, notify_outcome

from ..conftest import SPECS_DIR

MODEL = "purchase_propensity"


def _settings(home: Path, **kw: object) -> Settings:
    return Settings(home=home, specs_dir=SPECS_DIR, pseudonym_key="k" * 32, **kw)


def test_an_event_is_recorded_then_sent(home: Path) -> None:
    with LocalReceiver() as rx:
        settings = _settings(home, slack_webhook_url=rx.url)
        result = notify_event(retrain_started_alert(MODEL, reason="schedule"), settings=settings)
        assert result is not None and result.status_of("slack") == "sent"
        (payload,) = rx.payloads()
    header = payload["blocks"][0]["text"]["text"]
    assert header.endswith("INFO · purchase_propensity · Retrain started (schedule)")
    assert delivery_note(result).endswith("slack sent")
    store = Store.from_settings(settings)
    assert [(e.kind, e.status) for e in list_entries(store, model=MODEL)] == [
        ("retrain_started", "sent")
    ]
    store.dispose()


def test_alerts_without_a_spec_go_out_under_default_rules(home: Path) -> None:
    with LocalReceiver() as rx:
        settings = _settings(home, slack_webhook_url=rx.url)
        alert = flow_failed_alert("ghost_model", flow_name="monitor-model", error="no spec")
        result = notify_event(alert, settings=settings)
        assert result is not None and result.status_of("slack") == "sent"
        system = flow_failed_alert(None, flow_name="flush-alerts", error="outbox locked")
        result = notify_event(system, settings=settings)
        assert result is not None and result.status_of("slack") == "sent"
        headers = [p["blocks"][0]["text"]["text"] for p in rx.payloads()]
    assert [h.split(" · ", 1)[1] for h in headers] == [
        "ghost_model · Flow monitor-model failed",
        "driftline · Flow flush-alerts failed",
    ]


def test_a_broken_url_leaves_the_alert_pending(home: Path) -> None:
    settings = _settings(home, slack_webhook_url="not-a-url")
    result = notify_event(flow_failed_alert(MODEL, flow_name="x", error="y"), settings=settings)
    assert result is not None and result.status_of("slack") == "pending"
    assert "driftline alerts flush" in delivery_note(result)


def test_an_unreachable_store_is_logged_not_raised(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(
        home, database_url="postgresql+psycopg://driftline:pw-s3cret@127.0.0.1:9/none"
    )
    with caplog.at_level(logging.ERROR, logger="driftline.alerts.lifecycle"):
        result = notify_event(flow_failed_alert(MODEL, flow_name="x", error="y"), settings=settings)
    assert result is None
    assert "could not record the flow_failed alert" in caplog.text
    assert "pw-s3cret" not in caplog.text


def test_a_pending_approval_records_nothing(home: Path) -> None:
    outcome = PromotionOutcome(
        model=MODEL,
        action="promote",
        status="pending",
        challenger_version="2",
        champion_before="1",
        champion_after="1",
        reason="waiting for manual approval",
        triggered_by="cli:alice",
    )
    settings = _settings(home)
    assert notify_outcome(outcome, settings=settings) is None
    store = Store.from_settings(settings)
    assert list_entries(store, model=MODEL) == []
    store.dispose()
