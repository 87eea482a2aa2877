"""flush-alerts under the Prefect test harness, against the real local receiver."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.alerts.message import Alert
from driftline.alerts.outbox import enqueue
from driftline.config.settings import Settings
from driftline.context import Context
from driftline.devtools.receiver import LocalReceiver, Reply

from ..conftest import SPECS_DIR


def test_flush_sends_what_the_outbox_holds(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from driftline.flows.alerts import flush_alerts

    with LocalReceiver() as rx:
        monkeypatch.setenv("DRIFTLINE_HOME", str(home))
        monkeypatch.setenv("DRIFTLINE_SPECS_DIR", str(SPECS_DIR))
        monkeypatch.setenv("DRIFTLINE_SLACK_WEBHOOK_URL", rx.url)
        with Context.open(Settings()) as ctx:
            spec = ctx.spec("purchase_propensity")
            enqueue(
                ctx.store,
                Alert(
                    model=spec.name, kind="drift", severity="warning", title="Drift in 3 features"
                ),
                spec.alerts,
            )
        rx.script(Reply(500), Reply(200, "ok"))
        summary = flush_alerts(max_seconds=20)
    assert summary["sent"] == 1
    assert summary["outbox_pending"] == 0
    # the 500 was retried within the flush: two requests, the same message
    assert [("Drift in 3 features" in p["text"]) for p in rx.payloads()] == [True, True]
