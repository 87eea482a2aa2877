"""The decision policy, rule by rule, on hand-made results (pure, milliseconds)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from driftline.monitoring.policy import (
    Acknowledged,
    ChangePoint,
    PastRun,
    benjamini_hochberg,
    decide_action,
    drift_onset,
    insufficient_data,
)
from driftline.monitoring.results import (
    ColumnDrift,
    DriftResult,
    QualityFinding,
    RealizedPerformance,
)
from driftline.specs import ModelSpec, load_spec, parse_spec

SPEC_FILE = Path(__file__).resolve().parents[2] / "monitors" / "purchase_propensity.yaml"
END = datetime(2026, 9, 20, tzinfo=UTC)
DAY = timedelta(days=1)
FEATURES = ["a", "b", "c", "d"]


def spec(**monitoring: Any) -> ModelSpec:
    """A spec with four numerical features a-d and the given monitoring section."""
    data = load_spec(SPEC_FILE).model_dump(exclude={"source"}, mode="json")
    data["model"]["features"] = {"numerical": FEATURES, "categorical": []}
    data["model"]["segments"] = []
    data["monitoring"] = {"min_rows": 100, **monitoring}
    return parse_spec(data)


def result(
    drifted: tuple[str, ...] = (),
    *,
    rows: int = 1000,
    method: str = "wasserstein",
    scores: dict[str, float] | None = None,
    prediction_drift: bool = False,
    quality: tuple[QualityFinding, ...] = (),
    performance: RealizedPerformance | None = None,
    features: list[str] = FEATURES,
) -> DriftResult:
    p_value = method in {"ks", "chisquare"}
    threshold = 0.05 if p_value else 0.1
    columns = []
    for name in features:
        is_drift = name in drifted
        default = (0.001 if p_value else 0.5) if is_drift else (0.6 if p_value else 0.01)
        score = (scores or {}).get(name, default)
        columns.append(ColumnDrift(name, "numerical", method, score, threshold, is_drift))
    share = len(drifted) / len(features)
    return DriftResult(
        columns=tuple(columns),
        drift_share=share,
        drift_share_threshold=0.5,
        dataset_drift=share >= 0.5,
        prediction=ColumnDrift("score", "numerical", "wasserstein", 0.3, 0.1, prediction_drift),
        quality=quality,
        performance=performance,
        rows_reference=5000,
        rows_current=rows,
        engine="test",
    )


def past(days_ago: int, *, drift: bool = True, **kw: Any) -> PastRun:
    return PastRun(
        window_end=END - days_ago * DAY,
        status=kw.pop("status", "drift" if drift else "ok"),
        action=kw.pop("action", "alert" if drift else "none"),
        input_drift=drift,
        **kw,
    )


BUG = QualityFinding("a", "missing_share", 1.0, 0.05, "100.0% of values missing")


def perf(roc: float, *, rows: int = 2000, positives: int = 400) -> RealizedPerformance:
    return RealizedPerformance(
        rows, positives, {"roc_auc": roc, "pr_auc": 0.45}, {"roc_auc": 0.70, "pr_auc": 0.46}
    )


# -- rows and quiet windows ----------------------------------------------------------------


def test_too_few_rows_never_gives_a_drift_verdict() -> None:
    decision = decide_action(result(("a", "b", "c"), rows=99), spec(), [], window_end=END)
    assert (decision.status, decision.action) == ("insufficient_data", "none")
    assert decision.drifted_columns == () and not decision.input_drift
    assert decision == insufficient_data(99, 100)


def test_quiet_window() -> None:
    decision = decide_action(result(), spec(), [], window_end=END)
    assert (decision.status, decision.action, decision.severity) == ("ok", "none", "none")
    assert decision.drift_share == 0.0


def test_drift_below_the_share_is_noted_not_acted_on() -> None:
    decision = decide_action(result(("a",)), spec(), [], window_end=END)
    assert (decision.status, decision.action) == ("ok", "none")
    assert decision.drifted_columns == ("a",)
    assert any("below the dataset threshold" in r for r in decision.reasons)


# -- persistence ---------------------------------------------------------------------------


PERSIST = {"policy": {"persistence": {"required": 3, "of_last": 4}}}


def test_first_drifted_window_alerts() -> None:
    decision = decide_action(result(("a", "b")), spec(**PERSIST), [], window_end=END)
    assert (decision.status, decision.action, decision.severity) == ("drift", "alert", "medium")
    assert decision.triggers == ("dataset_drift",)
    assert any("input drift in 1 of the last 4 windows" in r for r in decision.reasons)


def test_persistent_drift_retrains() -> None:
    history = [past(1), past(3)]  # with this one: 3 of the last 4 windows
    decision = decide_action(result(("a", "b")), spec(**PERSIST), history, window_end=END)
    assert (decision.action, decision.severity) == ("retrain", "high")
    assert "persistent" in decision.triggers


@pytest.mark.parametrize(
    "history",
    [
        [past(1), past(4)],  # day 4 is outside the last 4 windows
        [past(1), past(2, status="failed")],  # failed runs are no evidence
        [past(1), past(2, status="insufficient_data")],
        [past(1), past(2, champion_version="6")],  # against another champion
        [past(1), past(2, quality_ok=False)],  # drift from a broken pipeline
        [past(1), past(2, drift=False)],
    ],
)
def test_windows_that_do_not_count_towards_persistence(history: list[PastRun]) -> None:
    decision = decide_action(
        result(("a", "b")), spec(**PERSIST), history, window_end=END, champion_version="7"
    )
    assert decision.action == "alert"
    assert "persistent" not in decision.triggers


def test_the_latest_run_of_a_window_speaks_for_it() -> None:
    history = [past(1), past(1, drift=False), past(2)]
    decision = decide_action(result(("a", "b")), spec(**PERSIST), history, window_end=END)
    assert decision.action == "retrain"


# -- cooldown ------------------------------------------------------------------------------


COOL = {"policy": {"persistence": {"required": 2, "of_last": 3}, "cooldown": "5d"}}


def test_cooldown_after_a_retrain_turns_retrain_into_alert() -> None:
    history = [past(1), past(4, action="retrain")]
    decision = decide_action(result(("a", "b")), spec(**COOL), history, window_end=END)
    assert decision.action == "alert"
    assert "cooldown" in decision.triggers
    assert any("until 2026-09-21 00:00" in r for r in decision.reasons)


def test_retrain_once_the_cooldown_is_over() -> None:
    history = [past(1), past(5, action="retrain")]
    decision = decide_action(result(("a", "b")), spec(**COOL), history, window_end=END)
    assert decision.action == "retrain"


def test_a_new_champion_starts_a_cooldown() -> None:
    # Version 2 was first monitored yesterday, after version 1: it became champion then.
    history = [past(1, champion_version="2"), past(2, champion_version="1")]
    decision = decide_action(
        result(("a", "b")), spec(**COOL), history, window_end=END, champion_version="2"
    )
    assert decision.action == "alert" and "cooldown" in decision.triggers
    assert any("(2026-09-19 00:00)" in r for r in decision.reasons)
    promoted = decide_action(
        result(("a", "b")),
        spec(**COOL),
        [past(1)],
        window_end=END,
        promoted_at=END - 2 * DAY,
    )
    assert promoted.action == "alert" and "cooldown" in promoted.triggers


# -- critical features, FDR ----------------------------------------------------------------


def test_a_critical_feature_is_input_drift_on_its_own() -> None:
    decision = decide_action(result(("c",)), spec(critical_features=["c"]), [], window_end=END)
    assert decision.input_drift and decision.action == "alert"
    assert decision.triggers == ("critical_feature",)
    plain = decide_action(result(("a",)), spec(critical_features=["c"]), [], window_end=END)
    assert not plain.input_drift


def test_benjamini_hochberg_matches_the_textbook_example() -> None:
    # Benjamini & Hochberg (1995): 15 p-values, q = 0.05 rejects the 4 smallest.
    p = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240]
    p += [0.4262, 0.5719, 0.6528, 0.7590, 1.0]
    assert benjamini_hochberg(p, 0.05) == [True] * 4 + [False] * 11
    assert benjamini_hochberg([0.04, 0.03], 0.05) == [True, True]
    assert benjamini_hochberg([], 0.05) == []


def test_fdr_control_clears_marginal_p_values_when_many_columns_are_tested() -> None:
    names = [f"f{i}" for i in range(10)]
    scores = {n: 0.5 for n in names} | {"f0": 0.0001, "f1": 0.03, "f2": 0.04}
    raw = result(("f0", "f1", "f2"), method="ks", scores=scores, features=names)
    data = load_spec(SPEC_FILE).model_dump(exclude={"source"}, mode="json")
    data["model"]["features"] = {"numerical": names, "categorical": []}
    data["model"]["segments"] = []
    data["monitoring"] = {"min_rows": 100, "critical_features": ["f1"]}
    with_fdr = parse_spec(data)
    decision = decide_action(raw, with_fdr, [], window_end=END)
    assert decision.drifted_columns == ("f0",)  # 0.03 and 0.04 fail BH at q=0.05 over 10
    assert not decision.input_drift  # f1 was critical, but FDR cleared it
    assert any("cleared 2 p-value columns: f1, f2" in r for r in decision.reasons)
    data["monitoring"]["policy"] = {"fdr": {"enabled": False}}
    without = decide_action(raw, parse_spec(data), [], window_end=END)
    assert without.drifted_columns == ("f0", "f1", "f2") and without.input_drift


def test_fdr_leaves_few_columns_and_distances_alone() -> None:
    few = result(("a", "b"), method="ks", scores={"a": 0.04, "b": 0.03})
    assert decide_action(few, spec(), [], window_end=END).drifted_columns == ("a", "b")  # 4 < 5
    distances = result(("a", "b"))
    assert decide_action(distances, spec(), [], window_end=END).drifted_columns == ("a", "b")


# -- performance, quality, prediction ------------------------------------------------------


def test_performance_drop_retrains_without_input_drift_or_persistence() -> None:
    decision = decide_action(result(performance=perf(0.60)), spec(), [], window_end=END)
    assert (decision.action, decision.severity) == ("retrain", "critical")
    assert not decision.input_drift
    assert decision.triggers == ("performance_drop",)
    assert any("realized roc_auc 0.600 is 0.100 below" in r for r in decision.reasons)


def test_the_headline_is_the_most_severe_finding_not_the_first() -> None:
    """Drift (medium) is found before the performance drop (critical); one-line summaries
    (the demo's timeline) show the drop."""
    decision = decide_action(
        result(("a", "b", "c"), performance=perf(0.60)), spec(), [], window_end=END
    )
    assert decision.triggers[0] == "dataset_drift" and "performance_drop" in decision.triggers
    assert "realized roc_auc 0.600" in decision.headline
    assert decision.reasons[0] != decision.headline
    quiet = decide_action(result(), spec(), [], window_end=END)
    assert quiet.headline == ""


def test_the_demo_timeline_shows_the_headline_and_a_pending_retrain() -> None:
    from driftline.cli.demo import _first_reason

    reasons = ["3 of 4 features drifted", "performance: dropped", "retrain pending: 10 of 900"]
    row = {"decision": "alert", "reasons": reasons, "headline": "performance: dropped"}
    assert _first_reason(row) == "performance: dropped; retrain pending: 10 of 900"
    assert _first_reason({**row, "decision": "none"}) == ""


def test_both_metrics_dropping_give_one_trigger_and_two_reasons() -> None:
    measured = RealizedPerformance(
        2000, 400, {"roc_auc": 0.55, "pr_auc": 0.2}, {"roc_auc": 0.70, "pr_auc": 0.46}
    )
    decision = decide_action(result(performance=measured), spec(), [], window_end=END)
    assert decision.triggers == ("performance_drop",)
    assert sum("below the champion's validation" in r for r in decision.reasons) == 2


def test_performance_within_the_allowed_drop_is_fine() -> None:
    decision = decide_action(result(performance=perf(0.66)), spec(), [], window_end=END)
    assert decision.action == "none"
    assert any("realized roc_auc 0.660 (validation 0.700)" in r for r in decision.reasons)


@pytest.mark.parametrize(
    "measured",
    [perf(0.5, rows=100), perf(0.5, positives=5), perf(0.5, positives=1995)],
)
def test_performance_needs_enough_labels_of_each_class(measured: RealizedPerformance) -> None:
    decision = decide_action(result(performance=measured), spec(), [], window_end=END)
    assert decision.action == "none"
    assert any("performance not judged" in r for r in decision.reasons)


def test_performance_without_a_baseline_value_is_not_judged() -> None:
    measured = RealizedPerformance(2000, 400, {"roc_auc": 0.5, "pr_auc": 0.1}, {})
    decision = decide_action(result(performance=measured), spec(), [], window_end=END)
    assert decision.action == "none"
    assert any("baseline has no roc_auc" in r for r in decision.reasons)


def test_performance_drop_in_cooldown_alerts_critically() -> None:
    history = [past(1, action="retrain")]
    decision = decide_action(result(performance=perf(0.55)), spec(), history, window_end=END)
    assert (decision.action, decision.severity) == ("alert", "critical")
    assert "cooldown" in decision.triggers


def test_broken_data_alerts_and_blocks_retraining() -> None:
    alone = decide_action(result(quality=(BUG,)), spec(), [], window_end=END)
    assert (alone.action, alone.severity, alone.triggers) == ("alert", "high", ("data_quality",))
    assert not alone.quality_ok
    blocked = decide_action(
        result(quality=(BUG,), performance=perf(0.5)), spec(), [], window_end=END
    )
    assert blocked.action == "alert" and "retrain_blocked" in blocked.triggers
    allowed = decide_action(
        result(quality=(BUG,), performance=perf(0.5)),
        spec(data_quality={"block_retrain": False}),
        [],
        window_end=END,
    )
    assert allowed.action == "retrain"


def test_prediction_drift_alone_is_a_low_alert() -> None:
    decision = decide_action(result(prediction_drift=True), spec(), [], window_end=END)
    assert (decision.action, decision.severity) == ("alert", "low")
    assert decision.triggers == ("prediction_drift",)


def test_naive_and_aware_timestamps_mix() -> None:
    history = [
        PastRun(datetime(2026, 9, 19), "drift", "alert", True),
        PastRun(datetime(2026, 9, 18), "drift", "alert", True),
    ]
    decision = decide_action(result(("a", "b")), spec(**PERSIST), history, window_end=END)
    assert decision.action == "retrain"


# -- policy.retrain: auto, approve, never --------------------------------------------------


def test_retrain_never_alerts_that_a_retrain_is_recommended() -> None:
    decision = decide_action(
        result(performance=perf(0.60)), spec(policy={"retrain": "never"}), [], window_end=END
    )
    assert (decision.action, decision.severity) == ("alert", "critical")
    assert decision.triggers == ("performance_drop", "retrain_recommended")
    assert any("realized roc_auc 0.600 is 0.100 below" in r for r in decision.reasons)
    assert any(
        r.startswith("retrain recommended, not started: monitoring.policy.retrain is never")
        for r in decision.reasons
    )


def test_retrain_never_recommends_nothing_when_the_retrain_was_held_back() -> None:
    history = [past(1, action="retrain")]
    decision = decide_action(
        result(performance=perf(0.55)), spec(policy={"retrain": "never"}), history, window_end=END
    )
    assert decision.action == "alert"
    assert "cooldown" in decision.triggers and "retrain_recommended" not in decision.triggers


@pytest.mark.parametrize("policy", ["auto", "approve"])
def test_retrain_auto_and_approve_decide_retrain(policy: str) -> None:
    decision = decide_action(
        result(performance=perf(0.60)), spec(policy={"retrain": policy}), [], window_end=END
    )
    assert decision.action == "retrain"
    assert "retrain_recommended" not in decision.triggers


def test_retrain_policy_is_one_of_three_words() -> None:
    from driftline.config.errors import SpecError

    with pytest.raises(SpecError, match=r"monitoring\.policy\.retrain"):
        spec(policy={"retrain": "sometimes"})


def test_retrain_approve_forces_the_manual_approval_gate_on() -> None:
    assert spec(policy={"retrain": "approve"}).promotion.manual_approval is True
    assert spec(policy={"retrain": "auto"}).promotion.manual_approval is False
    data = load_spec(SPEC_FILE).model_dump(exclude={"source"}, mode="json")
    data["monitoring"]["policy"]["retrain"] = "approve"
    assert data["promotion"]["manual_approval"] is False  # approve wins over it
    assert parse_spec(data).promotion.manual_approval is True
    del data["promotion"]
    assert parse_spec(data).promotion.manual_approval is True


# -- reasons, change points, pending retrains ------------------------------------------------


def test_the_retrain_reason_is_performance_for_a_performance_drop() -> None:
    decision = decide_action(result(performance=perf(0.60)), spec(), [], window_end=END)
    assert (decision.action, decision.retrain_reason) == ("retrain", "performance")
    both = decide_action(
        result(("a", "b"), performance=perf(0.60)),
        spec(**PERSIST),
        [past(1), past(2)],
        window_end=END,
    )
    assert both.retrain_reason == "performance"  # the drop wins over persistent drift
    drift = decide_action(result(("a", "b")), spec(**PERSIST), [past(1), past(2)], window_end=END)
    assert (drift.action, drift.retrain_reason) == ("retrain", "drift")
    quiet = decide_action(result(), spec(), [], window_end=END)
    assert quiet.retrain_reason is None
    assert drift.to_dict()["retrain_reason"] == "drift"


def test_a_retrain_waits_for_labelled_rows_after_the_change() -> None:
    change = ChangePoint(at=END - 3 * DAY, rows=420, needed=750, how="a test")
    decision = decide_action(
        result(performance=perf(0.60)), spec(), [], window_end=END, change=change
    )
    assert decision.action == "alert" and decision.severity == "critical"
    assert {"performance_drop", "retrain_pending"} <= set(decision.triggers)
    assert "cooldown" not in decision.triggers
    assert any(r.startswith("retrain pending: 420 of 750 labelled rows") for r in decision.reasons)
    assert decision.retrain_reason == "performance"
    ready = ChangePoint(at=END - 3 * DAY, rows=750, needed=750, how="a test")
    fires = decide_action(result(performance=perf(0.60)), spec(), [], window_end=END, change=ready)
    assert fires.action == "retrain"
    assert fires.change_point == END - 3 * DAY
    assert fires.to_dict()["change_point"] == (END - 3 * DAY).isoformat()


def test_a_pending_retrain_is_no_retrain_decision_so_no_cooldown_follows() -> None:
    history = [past(d, drift=False, action="alert", triggers=("retrain_pending",)) for d in (1, 2)]
    decision = decide_action(result(performance=perf(0.60)), spec(**COOL), history, window_end=END)
    assert decision.action == "retrain"


def test_the_first_champion_gets_a_cooldown_too() -> None:
    """The bootstrap champion's first monitored window starts its grace (promoted_at)."""
    decision = decide_action(
        result(performance=perf(0.60)),
        spec(**COOL),
        [],
        window_end=END,
        champion_version="1",
        promoted_at=END,
    )
    assert decision.action == "alert" and "cooldown" in decision.triggers
    later = decide_action(
        result(performance=perf(0.60)),
        spec(**COOL),
        [],
        window_end=END,
        champion_version="1",
        promoted_at=END - 6 * DAY,
    )
    assert later.action == "retrain"


def test_drift_onset_walks_back_through_the_lasting_drift() -> None:
    persistence = spec(**PERSIST).monitoring.policy.persistence  # 3 of 4: one gap allowed
    history = [past(1), past(2, drift=False), past(3), past(4), past(5, drift=False),
               past(6, drift=False), past(7)]  # fmt: skip
    onset = drift_onset(history, END, DAY, persistence, None)
    assert onset == END - 5 * DAY  # the window ending 4 days ago began 5 days ago
    other = [past(1), past(2, champion_version="9")]
    assert drift_onset(other, END, DAY, persistence, "1") == END - 2 * DAY


# -- acknowledged drift ----------------------------------------------------------------------

ACK = Acknowledged(
    columns=("a", "b"), version="5", rejected_at=END - 2 * DAY, gates=("improvement",)
)


def test_acknowledged_drift_alerts_low_once_and_asks_for_no_retrain() -> None:
    history = [past(1), past(2), past(3)]
    first = decide_action(
        result(("a", "b")), spec(**PERSIST), history, window_end=END, acknowledged=ACK
    )
    assert (first.action, first.severity) == ("alert", "low")
    assert first.triggers == ("drift_acknowledged",)
    assert not first.input_drift and first.retrain_reason is None
    assert any(r.startswith("drift acknowledged: no better model") for r in first.reasons)
    assert any("driftline baseline refresh --model" in r for r in first.reasons)
    said = [past(1, triggers=("drift_acknowledged",)), past(2), past(3)]
    later = decide_action(
        result(("a", "b")), spec(**PERSIST), said, window_end=END, acknowledged=ACK
    )
    assert (later.action, later.status) == ("none", "drift")
    assert later.triggers == ("drift_acknowledged",)


def test_a_new_drift_or_a_performance_drop_is_judged_afresh() -> None:
    history = [past(1), past(2), past(3)]
    other = decide_action(
        result(("c", "d")), spec(**PERSIST), history, window_end=END, acknowledged=ACK
    )
    assert other.action == "retrain" and "drift_acknowledged" not in other.triggers
    dropped = decide_action(
        result(("a", "b"), performance=perf(0.60)),
        spec(**PERSIST),
        history,
        window_end=END,
        acknowledged=ACK,
    )
    assert (dropped.action, dropped.retrain_reason) == ("retrain", "performance")
    assert "drift_acknowledged" in dropped.triggers


# -- calendar events -------------------------------------------------------------------------


def test_a_calendar_event_is_announced_only_by_an_alert_that_was_queued() -> None:
    """A window that raised the event without queuing its alert (a backfill, --no-alert)
    does not announce it: the next live window does. A backfill counts every earlier
    window that raised it (as a live monitor would have), and so does a model whose
    alerts go nowhere."""
    sale = {"name": "sale", "start": (END - 3 * DAY).isoformat(), "end": (END + DAY).isoformat()}
    data = spec().model_dump(exclude={"source"}, mode="json")
    data["calendar"] = {"events": [{**sale, "expected_columns": ["a"]}]}
    declared = parse_spec(data)
    raised = past(1, drift=False, action="alert", triggers=("calendar_event",))

    def decide(history: list[PastRun], on: ModelSpec = declared, **kw: Any) -> Any:
        return decide_action(
            result(("a",)), on, history, window_end=END, events=on.calendar.events, **kw
        )

    assert decide([raised]).findings == ["calendar_event"]  # not queued: announce it now
    queued = decide([replace(raised, alerted=True)])
    assert (queued.action, queued.findings, queued.quiet) == ("none", [], ("calendar_event",))
    assert any(
        "announced by the alert of the window ending 2026-09-19" in r for r in queued.reasons
    )
    backfilled = decide([raised], sends_alerts=False)
    assert backfilled.action == "none"
    assert any(
        "first noted in the window ending 2026-09-19 00:00 UTC, which sent no alert" in r
        for r in backfilled.reasons
    )
    data["alerts"] = {"enabled": False}
    assert decide([raised], parse_spec(data)).action == "none"
