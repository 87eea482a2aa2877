"""Lifecycle events as alerts (pure builders): what each message says, the numbers of
failing gates, links only where an http(s) address is known, and no secret anywhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from driftline.alerts.channels.slack import slack_limit_violations
from driftline.alerts.lifecycle import (
    SYSTEM_MODEL,
    delivery_note,
    flow_failed_alert,
    outcome_alert,
    promoted_alert,
    rejected_alert,
    retrain_started_alert,
    rollback_alert,
)
from driftline.alerts.message import Alert
from driftline.alerts.outbox import render
from driftline.config.secrets import scrub
from driftline.lifecycle.gates import Gate, GateReport
from driftline.lifecycle.promotion import PromotionOutcome
from driftline.specs import AlertsSection

MODEL = "purchase_propensity"


def _report(*, champion: str | None = "3", failing: bool = False) -> GateReport:
    gates = [
        Gate("floor", "passed", "roc_auc 0.7312 reaches the floor 0.5500", 0.7312, 0.55),
        Gate(
            "improvement",
            "failed" if failing else "passed",
            "roc_auc 0.7312 vs champion 0.7400 (-0.0088; needs at least +0.0050)"
            if failing
            else "roc_auc 0.7312 vs champion 0.7012 (+0.0300; needs at least +0.0050)",
            -0.0088 if failing else 0.03,
            0.005,
        ),
        Gate(
            "calibration",
            "failed" if failing else "passed",
            "ECE 0.2100 (ceiling 0.1500): too poorly calibrated",
            0.21,
            0.15,
        ),
        Gate("non_inferiority", "failed" if failing else "passed", "interval", float("nan"), 0.0),
        Gate("latency", "passed", "scores 90,000 rows/s within the budget", 90000.0, 5000.0),
        Gate("manual_approval", "skipped", "not required by the spec"),
    ]
    if champion is None:
        gates[1] = Gate("improvement", "skipped", "no champion yet: first model")
    return GateReport(
        model=MODEL,
        challenger_version="4",
        champion_version=champion,
        primary_metric="roc_auc",
        gates=tuple(gates),
        window="2026-09-28 to 2026-10-05, 10,500 rows",
    )


def _outcome(status: str, report: GateReport | None = None, **kw: object) -> PromotionOutcome:
    values: dict = {
        "model": MODEL,
        "action": "promote",
        "status": status,
        "challenger_version": "4",
        "champion_before": "3",
        "champion_after": "4" if status == "promoted" else "3",
        "reason": "v4 promoted: every gate passed, replacing v3",
        "triggered_by": "flow:retrain-model/brave-otter",
        "report": report,
    }
    values.update(kw)
    return PromotionOutcome(**values)


def _bodies(alert: Alert) -> str:
    """Every byte the outbox would store and send for ``alert``, on both channels."""
    config = AlertsSection(channels=["slack", "webhook"])
    return render(alert, "slack", config) + render(alert, "webhook", config)


def _slack_ok(alert: Alert) -> None:
    payload = json.loads(render(alert, "slack", AlertsSection()))
    assert slack_limit_violations(payload) == []


# -- retrain started ----------------------------------------------------------------------


def test_retrain_started_names_the_reason_and_the_monitor_run() -> None:
    alert = retrain_started_alert(
        MODEL,
        reason="drift",
        monitor_run_id="42",
        triggered_by="flow:retrain-model/brave-otter",
        as_of=datetime(2026, 10, 5, tzinfo=UTC),
        flow_run_url="http://127.0.0.1:4200/runs/flow-run/abc",
    )
    assert (alert.kind, alert.severity.value) == ("retrain_started", "info")
    assert alert.title == "Retrain started (drift)"
    assert "monitor run #42 asked for it" in alert.summary
    assert alert.facts["Monitor run"] == "#42"
    assert alert.facts["Data clock"] == "2026-10-05 00:00 UTC"
    assert alert.links.flow_run == "http://127.0.0.1:4200/runs/flow-run/abc"
    assert alert.links.model_version is None
    _slack_ok(alert)


def test_retrain_started_without_monitor_run_or_link() -> None:
    alert = retrain_started_alert(MODEL, reason="bootstrap", flow_run_url="/tmp/not-a-url")
    assert "no champion yet" in alert.summary
    assert "Monitor run" not in alert.facts
    assert alert.links.items() == []


# -- promoted -----------------------------------------------------------------------------


def test_promoted_gives_versions_numbers_and_the_model_version_link() -> None:
    outcome = _outcome("promoted", _report())
    alert = promoted_alert(outcome, mlflow_ui="http://mlflow.internal:5000/")
    assert (alert.kind, alert.severity.value, alert.decision) == ("promoted", "info", "promoted")
    assert alert.title == "Challenger v4 promoted to champion (replacing v3)"
    assert (alert.facts["Champion before"], alert.facts["Champion now"]) == ("v3", "v4")
    assert alert.facts["roc_auc"] == "0.7312 (champion v3 0.7012, +0.0300)"
    assert alert.links.model_version == (
        "http://mlflow.internal:5000/#/models/purchase_propensity/versions/4"
    )
    assert alert.failing_gates == []
    _slack_ok(alert)


def test_first_promotion_says_so_and_local_tracking_has_no_link() -> None:
    outcome = _outcome(
        "promoted",
        _report(champion=None),
        champion_before=None,
        reason="v4 promoted: every gate passed (first model)",
    )
    alert = promoted_alert(outcome, mlflow_ui="sqlite:////srv/driftline/mlflow.db")
    assert alert.title.endswith("(first model)")
    assert alert.facts["Champion before"] == "none"
    assert alert.facts["roc_auc"] == "0.7312 (no champion yet)"
    assert alert.links.model_version is None


def test_an_adopted_champion_says_it_was_adopted() -> None:
    outcome = _outcome(
        "promoted",
        None,
        reason="v4 adopted from models:/churn/7, without gates: it already serves, replacing v3",
    )
    alert = promoted_alert(outcome)
    assert alert.title == "v4 adopted as champion (replacing v3)"
    assert "models:/churn/7" in alert.summary
    assert "Benchmark window" not in alert.facts
    _slack_ok(alert)


# -- rejected -----------------------------------------------------------------------------


def test_rejected_lists_each_failing_gate_with_its_numbers_and_reason() -> None:
    outcome = _outcome("rejected", _report(failing=True), reason="rejected by 3 gates")
    alert = rejected_alert(outcome, mlflow_ui="https://mlflow.example.com/mlflow")
    assert (alert.kind, alert.severity.value) == ("rejected", "warning")
    assert alert.title == "Challenger v4 rejected by 3 gates; champion v3 stays"
    gates = {g.name: g for g in alert.failing_gates}
    assert list(gates) == ["improvement", "calibration", "non_inferiority"]
    assert alert.summary.startswith(
        "v4 failed 3 of 6 gates (improvement, calibration, non_inferiority); champion v3 stays."
    )
    assert (gates["improvement"].value, gates["improvement"].threshold) == (-0.0088, 0.005)
    assert "needs at least +0.0050" in gates["improvement"].detail
    assert (gates["calibration"].value, gates["calibration"].threshold) == (0.21, 0.15)
    # a NaN observation is left out (it would make the webhook body invalid JSON)
    assert gates["non_inferiority"].value is None
    assert alert.facts["roc_auc"] == "0.7312 (champion v3 0.7400, -0.0088)"
    assert alert.links.model_version == (
        "https://mlflow.example.com/mlflow/#/models/purchase_propensity/versions/4"
    )
    payload = json.loads(render(alert, "slack", AlertsSection()))
    gate_text = next(
        b["text"]["text"]
        for b in payload["blocks"]
        if b.get("text", {}).get("text", "").startswith("*Failing gates*")
    )
    assert "*improvement*" in gate_text and "value -0.0088, threshold 0.005" in gate_text
    assert "value 0.21, threshold 0.15" in gate_text
    assert "latency" not in gate_text and "floor" not in gate_text
    assert slack_limit_violations(payload) == []
    json.loads(render(alert, "webhook", AlertsSection()), parse_constant=pytest.fail)


def test_rejected_without_champion_or_report() -> None:
    outcome = _outcome(
        "rejected", None, champion_before=None, champion_after=None, reason="no report"
    )
    alert = rejected_alert(outcome)
    assert alert.title == "Challenger v4 rejected by 0 gates; there is still no champion"
    assert alert.summary == "no report"


# -- rollback and dispatch ----------------------------------------------------------------


def test_rollback_says_from_which_version_to_which() -> None:
    outcome = _outcome(
        "rolled_back",
        action="rollback",
        challenger_version=None,
        champion_before="4",
        champion_after="3",
        reason="v4 rolled back to v3: conversion dropped",
        triggered_by="cli:alice",
    )
    alert = rollback_alert(outcome, mlflow_ui="http://127.0.0.1:5000")
    assert (alert.kind, alert.severity.value) == ("rollback", "warning")
    assert alert.title == "Rolled back from v4 to v3"
    assert alert.summary == "v4 rolled back to v3: conversion dropped"
    assert (alert.facts["Rolled back"], alert.facts["Champion now"]) == ("v4", "v3")
    assert (
        alert.links.model_version == "http://127.0.0.1:5000/#/models/purchase_propensity/versions/3"
    )
    _slack_ok(alert)


@pytest.mark.parametrize(
    ("status", "kind"),
    [("promoted", "promoted"), ("rejected", "rejected"), ("rolled_back", "rollback")],
)
def test_outcome_alert_picks_the_builder(status: str, kind: str) -> None:
    alert = outcome_alert(_outcome(status, _report(failing=status == "rejected")))
    assert alert is not None and alert.kind == kind


def test_a_pending_approval_raises_no_alert_yet() -> None:
    assert outcome_alert(_outcome("pending", _report())) is None


# -- flow failed --------------------------------------------------------------------------


def test_flow_failed_is_critical_with_flow_run_and_error() -> None:
    alert = flow_failed_alert(
        MODEL,
        flow_name="retrain-model",
        error="Flow run encountered an exception: DataError: only 12 labelled rows",
        run_name="brave-otter",
        run_id="0b6f",
        flow_run_url="http://127.0.0.1:4200/runs/flow-run/0b6f",
    )
    assert (alert.kind, alert.severity.value) == ("flow_failed", "critical")
    assert alert.title == "Flow retrain-model failed (brave-otter)"
    assert "only 12 labelled rows" in alert.summary
    assert alert.facts == {"Flow": "retrain-model", "Flow run": "brave-otter", "Run id": "0b6f"}
    assert alert.links.flow_run == "http://127.0.0.1:4200/runs/flow-run/0b6f"
    assert alert.dedupe_key == f"{MODEL}:flow_failed"
    _slack_ok(alert)


def test_a_flow_about_no_model_files_its_failure_under_driftline() -> None:
    alert = flow_failed_alert(None, flow_name="flush-alerts", error="", crashed=True)
    assert alert.model == SYSTEM_MODEL
    assert alert.title == "Flow flush-alerts crashed"
    assert alert.summary == "the flow run crashed without a message"


def test_no_secret_reaches_any_alert() -> None:
    secrets = ["s3cr3t-pw", "T0AAA/B0BBB/xyzzySECRET", "tok-123456", "hunter2", "sig-abc"]
    error = (
        "OperationalError: connection to postgresql+psycopg://driftline:s3cr3t-pw@db:5432/dl "
        "failed; posting to https://hooks.slack.com/services/T0AAA/B0BBB/xyzzySECRET gave 404; "
        "GET https://api.example.com/v1?api_token=tok-123456&page=2 refused"
    )
    failed = flow_failed_alert(
        MODEL,
        flow_name="monitor-model",
        error=error,
        run_name="calm-heron",
        flow_run_url="https://admin:hunter2@prefect.example.com/runs/flow-run/1?sig=sig-abc#x",
    )
    assert failed.links.flow_run == "https://prefect.example.com/runs/flow-run/1"
    rollback = rollback_alert(
        _outcome(
            "rolled_back",
            action="rollback",
            champion_before="4",
            champion_after="3",
            reason=f"v4 rolled back to v3: {error}",
        ),
        mlflow_ui="https://ops:hunter2@mlflow.example.com:8443/?token=tok-123456",
    )
    assert rollback.links.model_version == (
        "https://mlflow.example.com:8443/#/models/purchase_propensity/versions/3"
    )
    for alert in (failed, rollback):
        body = _bodies(alert)
        for secret in secrets:
            assert secret not in body, (alert.kind, secret)
        assert "db:5432/dl" in body  # the rest of the message survives


def test_scrub_keeps_ordinary_text() -> None:
    text = "roc_auc 0.7312 vs champion 0.7012; see http://127.0.0.1:5000/#/models/pp"
    assert scrub(text) == text


# -- addresses ----------------------------------------------------------------------------


def test_delivery_note_without_a_record() -> None:
    assert "could not be recorded" in delivery_note(None)
