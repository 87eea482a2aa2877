"""The gates (driftline.lifecycle.gates): pure, on hand-made benchmark results."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from driftline.lifecycle.gates import GATES, Approval, GateReport, evaluate_gates, meets
from driftline.lifecycle.results import BenchmarkResult, ModelScore, SegmentScore
from driftline.specs import PromotionSection

MB = 1_000_000


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


# -- boundaries: plain comparisons with MLflow 3.17's validation semantics ------------------

NAN = float("nan")


@pytest.mark.parametrize("greater_is_better", [True, False])
def test_a_value_equal_to_its_threshold_meets_it(greater_is_better: bool) -> None:
    assert meets(0.7, 0.7, greater_is_better=greater_is_better)
    better, worse = (0.71, 0.69) if greater_is_better else (0.69, 0.71)
    assert meets(better, 0.7, greater_is_better=greater_is_better)
    assert not meets(worse, 0.7, greater_is_better=greater_is_better)


@pytest.mark.parametrize("greater_is_better", [True, False])
def test_nan_never_meets_a_threshold(greater_is_better: bool) -> None:
    assert not meets(NAN, 0.7, greater_is_better=greater_is_better)
    assert not meets(0.7, NAN, greater_is_better=greater_is_better)


def test_improvement_of_exactly_the_minimum_change_passes() -> None:
    # MLflow's min_absolute_change: candidate >= baseline + change, the sum in floats.
    needed = 0.68 + POLICY.min_improvement
    exact = evaluate_gates(result(chal_auc=needed, champ_auc=0.68), POLICY)
    assert exact.gate("improvement").status == "passed"
    short = math.nextafter(needed, 0.0)
    below = evaluate_gates(result(chal_auc=short, champ_auc=0.68), POLICY)
    assert below.gate("improvement").status == "failed"


def test_without_a_minimum_improvement_matching_the_champion_passes() -> None:
    policy = PromotionSection(min_improvement=0.0)
    report = evaluate_gates(result(chal_auc=0.68, champ_auc=0.68), policy)
    assert report.gate("improvement").status == "passed"


def test_a_nan_primary_metric_fails_floor_and_improvement_without_raising() -> None:
    report = evaluate_gates(result(chal_auc=NAN), POLICY)
    assert report.gate("floor").status == "failed"
    assert report.gate("improvement").status == "failed"
    champion_nan = evaluate_gates(result(chal_auc=0.72, champ_auc=NAN), POLICY)
    assert champion_nan.gate("improvement").status == "failed"


def test_values_at_each_gate_threshold_pass() -> None:
    at_floor = evaluate_gates(result(chal_auc=POLICY.min_primary_metric, champ_auc=None), POLICY)
    assert at_floor.gate("floor").status == "passed"
    at_limits = evaluate_gates(
        result(
            ci=(0.0 - POLICY.non_inferiority_margin, 0.05),
            ece=0.02 + POLICY.max_calibration_increase,  # champion's ECE is 0.02
            speed=POLICY.min_rows_per_second,
            size=POLICY.max_model_mb * MB,
        ),
        POLICY,
    )
    for name in ("non_inferiority", "calibration", "latency", "size"):
        assert at_limits.gate(name).status == "passed", name


def test_a_segment_losing_exactly_the_allowed_regression_passes() -> None:
    policy = PromotionSection(max_segment_regression=0.25)
    at_limit = evaluate_gates(result(segments=[_segment("email", 0.5, 0.75)]), policy)
    assert at_limit.gate("segments").status == "passed"
    beyond = evaluate_gates(result(segments=[_segment("email", 0.5, 0.75 + 1e-9)]), policy)
    assert beyond.gate("segments").status == "failed"


def test_a_missing_confidence_interval_fails_non_inferiority() -> None:
    report = evaluate_gates(result(ci=(NAN, NAN)), POLICY)
    assert report.gate("non_inferiority").status == "failed"


# -- absolute budgets give way to a champion that breaks them ---------------------------------


def _champion(res: BenchmarkResult, **changes: Any) -> BenchmarkResult:
    """``res`` with the champion's ECE, throughput, size or ROC AUC changed."""
    champ = res.champion
    assert champ is not None
    metrics = dict(champ.metrics)
    if "ece" in changes:
        metrics["ece"] = changes.pop("ece")
    if "roc_auc" in changes:
        metrics["roc_auc"] = changes.pop("roc_auc")
    return replace(res, champion=replace(champ, metrics=metrics, **changes))


def test_a_challenger_better_calibrated_than_a_miscalibrated_champion_passes() -> None:
    """The issue's case: ECE 0.29 vs the champion's 0.53, above the 0.15 ceiling."""
    report = evaluate_gates(_champion(result(ece=0.29), ece=0.53), POLICY)
    gate = report.gate("calibration")
    assert gate.status == "passed" and report.passed
    assert "champion itself is above the ceiling 0.1500" in gate.reason
    assert gate.threshold == pytest.approx(0.53)


def test_a_miscalibrated_champion_does_not_let_a_worse_challenger_through() -> None:
    report = evaluate_gates(_champion(result(ece=0.60), ece=0.53), POLICY)
    gate = report.gate("calibration")
    assert gate.status == "failed"
    assert "worse than the champion" in gate.reason


def test_the_ceiling_holds_while_the_champion_meets_it() -> None:
    report = evaluate_gates(_champion(result(ece=0.16), ece=0.149), POLICY)
    assert report.gate("calibration").status == "failed"
    assert report.gate("calibration").threshold == pytest.approx(0.15)


@pytest.mark.parametrize(
    ("gate", "challenger", "champion", "passes"),
    [
        ("latency", {"speed": 3000.0}, {"rows_per_second": 2000.0}, True),
        ("latency", {"speed": 1500.0}, {"rows_per_second": 2000.0}, False),
        ("latency", {"speed": 3000.0}, {"rows_per_second": 9000.0}, False),
        ("size", {"size": 60 * MB}, {"size_bytes": 80 * MB}, True),
        ("size", {"size": 90 * MB}, {"size_bytes": 80 * MB}, False),
        ("size", {"size": 60 * MB}, {"size_bytes": 40 * MB}, False),
    ],
)
def test_latency_and_size_budgets_give_way_to_a_champion_that_breaks_them(
    gate: str, challenger: dict[str, float], champion: dict[str, float], passes: bool
) -> None:
    report = evaluate_gates(_champion(result(**challenger), **champion), POLICY)
    verdict = report.gate(gate)
    assert (verdict.status == "passed") is passes, verdict.reason
    breaks = "champion itself breaks this budget" in verdict.reason
    champion_breaks = (
        champion.get("rows_per_second", 1e9) < POLICY.min_rows_per_second
        or champion.get("size_bytes", 0) / MB > POLICY.max_model_mb
    )
    assert breaks is champion_breaks


def test_the_floor_gives_way_to_a_champion_below_it() -> None:
    res = _champion(result(chal_auc=0.54, champ_auc=0.50, ci=(0.01, 0.07)), roc_auc=0.50)
    report = evaluate_gates(res, POLICY)
    floor = report.gate("floor")
    assert floor.status == "passed" and "champion itself breaks" in floor.reason
    assert evaluate_gates(result(chal_auc=0.54, champ_auc=0.56), POLICY).gate("floor").status == (
        "failed"
    )
