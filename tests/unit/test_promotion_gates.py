"""The gates (driftline.promotion.evaluate_gates): pure, on hand-made benchmark results."""

from __future__ import annotations

from typing import Any

import pytest

from driftline.lifecycle.benchmark import BenchmarkResult, ModelScore, SegmentScore
from driftline.lifecycle.gates import GATES, Approval, GateReport, evaluate_gates
from driftline.specs import PromotionSection

MB = 1024 * 1024


def _metrics(auc: float, ece: float = 0.02) -> dict[str, float]:
    return {"roc_auc": auc, "pr_auc": auc - 0.4, "log_loss": 0.4, "brier": 0.13, "ece": ece}


def _segment(value: str, chal: float, champ: float, rows: int = 2000) -> SegmentScore:
    return SegmentScore("channel", value, rows, rows // 5, _metrics(chal), _metrics(champ))


def result(
    chal_auc: float = 0.72,
    champ_auc: float | None = 0.68,
    ci: tuple[float, float] = (0.02, 0.06),
    segments: list[SegmentScore] | None = None,
    **chal: Any,
) -> BenchmarkResult:
    challenger = ModelScore(
        "2",
        _metrics(chal_auc, chal.get("ece", 0.02)),
        chal.get("speed", 200_000.0),
        chal.get("size", 2 * MB),
    )
    champion = None if champ_auc is None else ModelScore("1", _metrics(champ_auc), 1e5, MB)
    diff = None if champ_auc is None else chal_auc - champ_auc
    return BenchmarkResult(
        model="m",
        window_start="2026-10-01T00:00:00+00:00",
        window_end="2026-10-08T00:00:00+00:00",
        rows=10_000,
        positives=2000,
        primary_metric="roc_auc",
        challenger=challenger,
        champion=champion,
        diff=diff,
        ci_low=None if champ_auc is None else ci[0],
        ci_high=None if champ_auc is None else ci[1],
        confidence=None if champ_auc is None else 0.95,
        bootstrap_samples=None if champ_auc is None else 1000,
        segments=segments
        if segments is not None
        else [_segment("email", chal_auc, champ_auc or chal_auc)],
    )


POLICY = PromotionSection()


def statuses(report: GateReport) -> dict[str, str]:
    return {g.name: g.status for g in report.gates}


def test_a_clearly_better_challenger_passes_every_gate() -> None:
    report = evaluate_gates(result(), POLICY)
    assert report.passed and not report.failed and not report.pending
    assert [g.name for g in report.gates] == list(GATES)
    assert statuses(report)["manual_approval"] == "skipped"
    assert report.summary().endswith("every gate passed")


def test_too_small_an_improvement_fails_the_improvement_gate() -> None:
    report = evaluate_gates(result(chal_auc=0.683, ci=(0.001, 0.005)), POLICY)
    assert [g.name for g in report.failed] == ["improvement"]
    assert "needs at least +0.0050" in report.gate("improvement").reason


def test_an_interval_reaching_below_zero_fails_non_inferiority() -> None:
    report = evaluate_gates(result(ci=(-0.003, 0.08)), POLICY)
    assert [g.name for g in report.failed] == ["non_inferiority"]
    lenient_policy = PromotionSection(non_inferiority_margin=0.01)
    lenient = evaluate_gates(result(ci=(-0.003, 0.08)), lenient_policy)
    assert lenient.passed


def test_below_the_floor_fails_even_for_the_first_model() -> None:
    report = evaluate_gates(result(chal_auc=0.52, champ_auc=None), POLICY)
    assert [g.name for g in report.failed] == ["floor"]
    assert "below the floor" in report.gate("floor").reason


def test_first_model_skips_the_champion_gates_and_says_so() -> None:
    report = evaluate_gates(result(champ_auc=None), POLICY)
    assert report.passed
    for name in ("improvement", "non_inferiority", "segments"):
        assert report.gate(name).status == "skipped"
        assert "no champion yet" in report.gate(name).reason
    assert "(first model)" in report.summary()


def test_a_segment_regression_fails_although_the_overall_metric_improves() -> None:
    segments = [_segment("email", 0.70, 0.75), _segment("organic", 0.74, 0.66)]
    report = evaluate_gates(result(segments=segments), POLICY)
    assert report.gate("improvement").status == "passed"
    assert [g.name for g in report.failed] == ["segments"]
    gate = report.gate("segments")
    assert "channel=email" in gate.reason and "organic" not in gate.reason
    assert gate.observed == pytest.approx(-0.05)


def test_small_or_single_class_segments_are_not_gated() -> None:
    tiny = _segment("referral", 0.50, 0.80, rows=POLICY.min_segment_rows - 1)
    one_class = SegmentScore("channel", "x", 5000, 0, _metrics(0.5), _metrics(0.9))
    report = evaluate_gates(result(segments=[tiny, one_class]), POLICY)
    assert report.gate("segments").status == "skipped"
    assert report.passed


def test_the_segment_gate_reports_the_worst_gated_segment_only() -> None:
    tiny = _segment("referral", 0.50, 0.80, rows=POLICY.min_segment_rows - 1)
    report = evaluate_gates(result(segments=[tiny, _segment("email", 0.70, 0.69)]), POLICY)
    gate = report.gate("segments")
    assert gate.status == "passed" and gate.observed == pytest.approx(0.01)
    assert "no segment of 1 with" in gate.reason


def test_calibration_much_worse_than_the_champion_fails() -> None:
    report = evaluate_gates(result(ece=0.05), POLICY)  # champion 0.02 + 0.02 allowed
    assert [g.name for g in report.failed] == ["calibration"]
    assert evaluate_gates(result(ece=0.035), POLICY).passed


def test_latency_and_size_budgets() -> None:
    report = evaluate_gates(result(speed=900.0, size=80 * MB), POLICY)
    assert {g.name for g in report.failed} == {"latency", "size"}
    assert "80.00 MB" in report.gate("size").reason


def test_manual_approval_is_pending_then_decided_by_a_person() -> None:
    policy = PromotionSection(manual_approval=True)
    waiting = evaluate_gates(result(), policy)
    assert waiting.pending and not waiting.passed
    approved = evaluate_gates(result(), policy, approval=Approval(True, "alice", "ok"))
    assert approved.passed and approved.gate("manual_approval").reason == "approved by alice: ok"
    refused = evaluate_gates(result(), policy, approval=Approval(False, "bob", "not now"))
    assert [g.name for g in refused.failed] == ["manual_approval"]


def test_a_failing_gate_is_not_pending_even_without_approval() -> None:
    report = evaluate_gates(result(chal_auc=0.5), PromotionSection(manual_approval=True))
    assert report.failed and not report.pending


def test_report_round_trips_and_renders_every_gate() -> None:
    report = evaluate_gates(result(ci=(-0.01, 0.05)), POLICY)
    again = GateReport.from_dict(report.to_dict())
    assert again == report
    markdown = report.to_markdown()
    for name in GATES:
        assert f"| {name} |" in markdown
    assert "rejected by 1 gate(s): non_inferiority" in markdown
