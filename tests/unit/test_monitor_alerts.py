"""What a monitor run tells people: the alert it raises, and its way into the outbox."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from driftline.alerts.delivery import Destinations
from driftline.alerts.monitor_run import alert_for, notify_run
from driftline.alerts.outbox import list_entries
from driftline.data.store import Store
from driftline.devtools.receiver import LocalReceiver
from driftline.monitoring.monitor import MonitorRun
from driftline.monitoring.policy import Decision, decide_action, failed, insufficient_data
from driftline.monitoring.results import (
    ColumnDrift,
    DriftResult,
    QualityFinding,
    RealizedPerformance,
    SegmentReport,
    SegmentResult,
)
from driftline.specs import ModelSpec, load_spec

from ..conftest import SPECS_DIR

START, END = datetime(2026, 9, 5, tzinfo=UTC), datetime(2026, 9, 6, tzinfo=UTC)
BUG = QualityFinding("avg_order_value", "missing_share", 1.0, 0.05, "100.0% of values missing")


@pytest.fixture(scope="module")
def mspec() -> ModelSpec:
    return load_spec(SPECS_DIR / "purchase_propensity.yaml")


def _run(decision: Decision, **result: object) -> MonitorRun:
    columns = (
        ColumnDrift("recency_days", "numerical", "wasserstein", 0.15, 0.1, True),
        ColumnDrift("channel", "categorical", "jensenshannon", 0.4, 0.1, True),
        ColumnDrift("device", "categorical", "chisquare", 1e-9, 0.05, True),
        ColumnDrift("top_category", "categorical", "jensenshannon", 0.01, 0.1, False),
    )
    drift = DriftResult(
        columns=columns,
        drift_share=0.75,
        drift_share_threshold=0.3,
        dataset_drift=True,
        prediction=ColumnDrift("score", "numerical", "wasserstein", 0.05, 0.1, False),
        quality=result.get("quality", ()),  # type: ignore[arg-type]
        performance=result.get("performance"),  # type: ignore[arg-type]
        segments=result.get("segments"),  # type: ignore[arg-type]
        rows_reference=5000,
        rows_current=1800,
        engine="evidently",
    )
    path = (Path("/tmp/reports/r.html"),)
    return MonitorRun(
        "purchase_propensity", START, END, decision, drift, "3", 5, path, None, 1800, "p1", ("s1",)
    )


def _decision(action: str, severity: str, *triggers: str) -> Decision:
    return Decision(
        action=action,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        status="drift",
        reasons=("3 of 4 features drifted (75%, threshold 30%)", "input drift in 1 of 5"),
        triggers=triggers,
        drifted_columns=("recency_days", "channel", "device"),
        drift_share=0.75,
        input_drift=True,
    )


def test_drift_alert_lists_features_most_drifted_first(mspec: ModelSpec) -> None:
    alert = alert_for(_run(_decision("alert", "medium", "dataset_drift")), mspec)
    assert alert is not None
    assert (alert.kind, alert.severity.value, alert.decision) == ("drift", "warning", "alert")
    assert alert.title == "Drift in 3 of 4 features"
    # p 1e-9 against 0.05, then 0.4 against 0.1, then 0.15 against 0.1
    assert [f.column for f in alert.drifted_features] == ["device", "channel", "recency_days"]
    assert (alert.columns_drifted, alert.columns_total, alert.rows) == (3, 4, 1800)
    assert alert.links.report is None  # no Evidently UI address given: the path, labelled
    assert alert.links.items()[-1] == (
        "HTML report file (path on the monitoring host)",
        "/tmp/reports/r.html",
    )
    linked = alert_for(
        _run(_decision("alert", "medium", "dataset_drift")),
        mspec,
        evidently_ui="http://ui.example.com:8000",
    )
    assert linked is not None
    assert linked.links.report == "http://ui.example.com:8000/projects/p1/reports/s1"
    assert [label for label, _ in linked.links.items()] == ["Evidently report"]
    assert alert.facts == {"Champion": "v3"}
    assert alert.dedupe_key == "purchase_propensity:drift"
    assert "3 of 4 features drifted" in alert.summary


def test_quality_and_performance_take_precedence(mspec: ModelSpec) -> None:
    quality = alert_for(
        _run(_decision("alert", "high", "dataset_drift", "data_quality"), quality=(BUG,)), mspec
    )
    assert quality is not None and quality.kind == "quality"
    assert quality.quality[0].name == "missing_share: avg_order_value"
    assert quality.title == "Data-quality problems in 1 columns"
    perf = RealizedPerformance(3000, 600, {"roc_auc": 0.55, "pr_auc": 0.44}, {"roc_auc": 0.7})
    retrain = alert_for(
        _run(_decision("retrain", "critical", "performance_drop"), performance=perf), mspec
    )
    assert retrain is not None
    assert (retrain.kind, retrain.severity.value) == ("performance", "critical")
    assert retrain.title.endswith("(retrain)")
    assert [f.name for f in retrain.performance] == ["realized roc_auc"]  # pr_auc: no baseline
    assert retrain.performance[0].threshold == pytest.approx(0.65)
    monitor_only = alert_for(
        _run(
            _decision("alert", "critical", "performance_drop", "retrain_recommended"),
            performance=perf,
        ),
        mspec,
    )
    assert monitor_only is not None and monitor_only.kind == "performance"
    assert monitor_only.title.endswith("(retrain recommended)")


def test_failed_runs_alert_and_quiet_runs_do_not() -> None:
    broken = MonitorRun("m", START, END, failed("the window is empty"), error="the window is empty")
    alert = alert_for(broken)
    assert alert is not None and alert.kind == "flow_failed"
    assert alert.summary == "the window is empty"
    quiet = MonitorRun("m", START, END, insufficient_data(10, 500))
    assert alert_for(quiet) is None
    none = _run(Decision("none", "none", "ok", ("nothing found",)))
    assert alert_for(none) is None


def test_the_flow_run_link_is_kept_only_when_it_is_a_web_address(mspec: ModelSpec) -> None:
    run = _run(_decision("alert", "medium", "dataset_drift"))
    linked = alert_for(run, mspec, flow_run_url="http://u:pw@127.0.0.1:4200/runs/flow-run/7")
    assert linked is not None and linked.links.flow_run == "http://127.0.0.1:4200/runs/flow-run/7"
    broken = MonitorRun("m", START, END, failed("the window is empty"), error="empty")
    failed_alert = alert_for(broken, flow_run_url="https://prefect.example.com/runs/flow-run/8")
    assert failed_alert is not None
    assert failed_alert.links.flow_run == "https://prefect.example.com/runs/flow-run/8"
    local = alert_for(run, mspec, flow_run_url="ephemeral")
    assert local is not None and local.links.flow_run is None


def test_notify_run_records_the_alert_in_the_outbox(tmp_path: Path, mspec: ModelSpec) -> None:
    store = Store(f"sqlite:///{tmp_path / 'driftline.db'}")
    run = _run(_decision("alert", "medium", "dataset_drift"))
    result = notify_run(store, run, mspec, Destinations())
    assert result is not None
    entries = list_entries(store, model="purchase_propensity")
    assert [(e.kind, e.title, e.channel) for e in entries] == [
        ("drift", "Drift in 3 of 4 features", "slack")
    ]
    low = _run(_decision("alert", "low", "prediction_drift"))
    skipped = notify_run(store, low, mspec, Destinations())
    assert skipped is not None and skipped.enqueued.skipped  # info < min_severity warning
    assert (
        notify_run(
            store, MonitorRun("m", START, END, insufficient_data(1, 2)), None, Destinations()
        )
        is None
    )
    store.dispose()


def test_a_pending_retrain_and_an_acknowledged_drift_say_so(mspec: ModelSpec) -> None:
    pending = replace(
        _decision("alert", "high", "dataset_drift", "persistent", "retrain_pending"),
        retrain_reason="drift",
        change_point=datetime(2026, 9, 2, tzinfo=UTC),
    )
    alert = alert_for(_run(pending), mspec)
    assert alert is not None and alert.title.endswith("(retrain pending)")
    assert alert.facts["Retrain reason"] == "drift"
    assert alert.facts["Trains on data after"] == "2026-09-02 00:00 UTC"
    acknowledged = _decision("alert", "low", "drift_acknowledged")
    alert = alert_for(_run(acknowledged), mspec)
    assert alert is not None and alert.title == "Drift acknowledged: no better model"
    assert "Retrain reason" not in alert.facts


def test_a_segment_performance_drop_is_not_a_repeat_of_a_drift_alert(
    tmp_path: Path, mspec: ModelSpec
) -> None:
    """Each kind of finding has its own dedupe key: a segment's realized drop raised within
    the cooldown of a drift alert is delivered too (it shared <model>:drift before); a
    repeat of either is still suppressed."""
    fell = RealizedPerformance(900, 200, {"roc_auc": 0.55}, {"roc_auc": 0.70})
    social = SegmentResult("channel", "paid_social", 600, 500, (), performance=fell)
    drift = _run(_decision("alert", "medium", "dataset_drift"))
    calm = replace(
        drift.result,
        columns=tuple(replace(c, drifted=False) for c in drift.result.columns),
        dataset_drift=False,
        segments=SegmentReport((social,)),
    )
    decision = decide_action(calm, mspec, [], window_end=END)
    assert decision.findings == ["segment_performance_drop"]
    segment = replace(drift, decision=decision, result=calm)
    alert = alert_for(segment, mspec)
    assert alert is not None and alert.kind == "performance"
    assert alert.title == "Realized performance fell in segments: paid_social"
    assert [f.name for f in alert.performance] == ["realized roc_auc in channel=paid_social"]
    assert alert.facts["Segment paid_social"] == "roc_auc fell"
    store = Store(f"sqlite:///{tmp_path / 'driftline.db'}")
    with LocalReceiver() as rx:
        slack = Destinations({"slack": SecretStr(rx.url)})
        for run in (drift, segment, drift, segment):
            notify_run(store, run, mspec, slack)
        titles = [p["blocks"][0]["text"]["text"] for p in rx.payloads()]
    entries = list_entries(store, model=mspec.name)
    assert [(e.dedupe_key, e.status) for e in entries] == [
        ("purchase_propensity:drift", "sent"),
        ("purchase_propensity:performance:segments", "sent"),
        ("purchase_propensity:drift", "suppressed"),
        ("purchase_propensity:performance:segments", "suppressed"),
    ]
    assert len(titles) == 2 and "paid_social" in titles[1]
    store.dispose()
