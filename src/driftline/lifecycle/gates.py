"""Promotion gates: a benchmark result and the spec's ``promotion`` section in, a
:class:`GateReport` out.

Each gate is passed, failed, skipped or pending, with the numbers behind it and a
one-line reason. Every threshold is a plain comparison of numbers (:func:`meets`: a value
equal to its threshold passes, NaN fails), so the gates import neither MLflow nor
anything else that does I/O. Nothing here acts: moving aliases, tagging versions and
writing the audit trail on a report is :mod:`driftline.lifecycle.promotion`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from driftline.config.markup import markdown_text
from driftline.lifecycle.results import BenchmarkResult
from driftline.specs import PromotionSection
from driftline.tasks import TASKS

GateStatus = Literal["passed", "failed", "skipped", "pending"]
GATES = (
    "floor",
    "improvement",
    "non_inferiority",
    "segments",
    "calibration",
    "latency",
    "size",
    "manual_approval",
)
_MB = 1024 * 1024


@dataclass(frozen=True)
class Approval:
    """A person's answer to the manual-approval gate (or the timeout's)."""

    approved: bool
    reviewer: str
    comment: str = ""


@dataclass(frozen=True)
class Gate:
    """One gate's verdict with the numbers behind it."""

    name: str
    status: GateStatus
    reason: str
    observed: float | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class GateReport:
    """Every gate's verdict for one challenger against one champion."""

    model: str
    challenger_version: str
    champion_version: str | None
    primary_metric: str
    gates: tuple[Gate, ...]
    benchmark_id: int | None = None
    window: str = ""
    benchmark_run_id: str | None = None

    @property
    def passed(self) -> bool:
        """True when no gate failed and none is waiting for a person."""
        return all(g.status in ("passed", "skipped") for g in self.gates)

    @property
    def pending(self) -> bool:
        """True when only the manual approval is missing."""
        return not self.failed and any(g.status == "pending" for g in self.gates)

    @property
    def failed(self) -> list[Gate]:
        return [g for g in self.gates if g.status == "failed"]

    def gate(self, name: str) -> Gate:
        return next(g for g in self.gates if g.name == name)

    def summary(self) -> str:
        """One line: the verdict and, when rejected, the failing gates with reasons."""
        versus = (
            f"vs champion v{self.champion_version}" if self.champion_version else "(first model)"
        )
        head = f"{self.model} v{self.challenger_version} {versus}"
        if self.failed:
            reasons = "; ".join(f"{g.name}: {g.reason}" for g in self.failed)
            return f"{head}: rejected by {len(self.failed)} gate(s): {reasons}"
        if self.pending:
            return f"{head}: every gate passed; waiting for manual approval"
        return f"{head}: every gate passed"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        data["summary"] = self.summary()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateReport:
        fields = {k: v for k, v in data.items() if k not in ("passed", "summary")}
        fields["gates"] = tuple(Gate(**g) for g in fields["gates"])
        return cls(**fields)

    def to_markdown(self) -> str:
        """A table a reviewer reads in the Prefect UI, a PR or a Slack thread. Reasons
        (which may name segment values from data) and names are escaped
        (:func:`markdown_text`): shown as text, never as a tag, link or script."""
        md = markdown_text
        icon = {"passed": "✅", "failed": "❌", "skipped": "⏭️", "pending": "⏳"}
        lines = [
            f"### Gate report: {md(self.model)} v{md(self.challenger_version)}"
            + (f" vs champion v{md(self.champion_version)}" if self.champion_version else ""),
            "",
            f"**{md(self.summary())}**",
            "",
            f"Benchmark window: {md(self.window)} (primary metric: {md(self.primary_metric)})",
            "",
            "| gate | result | observed | threshold | reason |",
            "|---|---|---|---|---|",
        ]
        for g in self.gates:
            lines.append(
                f"| {md(g.name)} | {icon[g.status]} {g.status} | {_fmt(g.observed)} | "
                f"{_fmt(g.threshold)} | {md(g.reason)} |"
            )
        return "\n".join(lines)


def meets(value: float, threshold: float, *, greater_is_better: bool = True) -> bool:
    """Whether ``value`` reaches ``threshold``: ``value >= threshold``, or ``<=`` when
    lower is better. Equal passes; NaN on either side never passes.

    Source: the semantics of MLflow 3.17's model validation (``MetricThreshold``); a
    ``min_absolute_change`` over a baseline is ``meets(value, baseline + change)``, the sum
    taken in floating point as MLflow does (where MLflow raises on a NaN, this fails).
    """
    return bool(value >= threshold if greater_is_better else value <= threshold)


def evaluate_gates(
    result: BenchmarkResult, policy: PromotionSection, *, approval: Approval | None = None
) -> GateReport:
    """Judge a benchmark result against the spec's gates (see module docstring)."""
    metric = result.primary_metric
    chal = result.challenger
    champ = result.champion
    value = chal.metrics[metric]
    gates: list[Gate] = []

    finite = math.isfinite(value)
    failure = not finite or not meets(value, policy.min_primary_metric)
    gates.append(
        Gate(
            "floor",
            "failed" if failure else "passed",
            f"{metric} {value:.4f} "
            + (
                "is below"
                if finite and failure
                else "is not a finite number:"
                if failure
                else "reaches"
            )
            + f" the floor {policy.min_primary_metric:.4f}",
            value,
            policy.min_primary_metric,
        )
    )
    if champ is None:
        skipped = "no champion yet: first model, champion gates skipped"
        gates += [Gate(n, "skipped", skipped) for n in ("improvement", "non_inferiority")]
        gates.append(Gate("segments", "skipped", skipped))
    else:
        gates += _champion_gates(result, policy)
    gates.append(_calibration_gate(result, policy))

    speed = chal.rows_per_second
    failure = not meets(speed, policy.min_rows_per_second)
    gates.append(
        Gate(
            "latency",
            "failed" if failure else "passed",
            f"scores {speed:,.0f} rows/s "
            + ("below" if failure else "within")
            + f" the budget of {policy.min_rows_per_second:,.0f} rows/s",
            speed,
            policy.min_rows_per_second,
        )
    )
    size_mb = chal.size_bytes / _MB
    failure = not meets(size_mb, policy.max_model_mb, greater_is_better=False)
    gates.append(
        Gate(
            "size",
            "failed" if failure else "passed",
            f"model is {size_mb:.2f} MB, "
            + ("over" if failure else "within")
            + f" the budget of {policy.max_model_mb:g} MB",
            size_mb,
            policy.max_model_mb,
        )
    )
    gates.append(_approval_gate(policy, approval))
    return GateReport(
        model=result.model,
        challenger_version=chal.version,
        champion_version=champ.version if champ else None,
        primary_metric=metric,
        gates=tuple(gates),
        benchmark_id=result.benchmark_id,
        window=f"{result.window_start} to {result.window_end}, {result.rows:,} rows",
        benchmark_run_id=result.mlflow_run_id,
    )


def _champion_gates(result: BenchmarkResult, policy: PromotionSection) -> list[Gate]:
    metric = result.primary_metric
    if result.champion is None or result.diff is None:
        raise ValueError("the champion gates need a benchmark against a champion")
    value = result.challenger.metrics[metric]
    base = result.champion.metrics[metric]
    gates = []
    failure = not meets(value, base + policy.min_improvement)
    gates.append(
        Gate(
            "improvement",
            "failed" if failure else "passed",
            f"{metric} {value:.4f} vs champion {base:.4f} ({result.diff:+.4f}; "
            f"needs at least +{policy.min_improvement:.4f})",
            result.diff,
            policy.min_improvement,
        )
    )
    low = result.ci_low if result.ci_low is not None else float("nan")
    failure = not meets(low, 0.0 - policy.non_inferiority_margin)
    gates.append(
        Gate(
            "non_inferiority",
            "failed" if failure or not math.isfinite(low) else "passed",
            f"{result.confidence:.0%} bootstrap interval of the {metric} difference is "
            f"[{low:+.4f}, {result.ci_high:+.4f}]; its lower bound must be at least "
            f"{0.0 - policy.non_inferiority_margin:+.4f}",
            low,
            0.0 - policy.non_inferiority_margin,
        )
    )
    gates.append(_segment_gate(result, policy))
    return gates


def _segment_gate(result: BenchmarkResult, policy: PromotionSection) -> Gate:
    metric = result.primary_metric
    task = TASKS.get(result.task)
    allowed = 0.0 - policy.max_segment_regression
    checked: list[float] = []
    regressions = []
    for s in result.segments:
        diff = s.diff(metric)
        if (
            s.rows < policy.min_segment_rows
            or not task.segment_gateable(s.rows, s.positives)
            or diff is None
            or not math.isfinite(diff)
        ):
            continue
        checked.append(diff)
        if not meets(diff, allowed):
            regressions.append((diff, s))
    if not checked:
        return Gate(
            "segments",
            "skipped",
            f"no segment has {policy.min_segment_rows} rows of both classes to compare",
        )
    if regressions:
        regressions.sort(key=lambda item: item[0])
        worst_diff = regressions[0][0]
        named = ", ".join(
            f"{s.column}={s.value} ({d:+.4f}, {s.rows:,} rows)" for d, s in regressions
        )
        return Gate(
            "segments",
            "failed",
            f"{len(regressions)} of {len(checked)} segments lose more than "
            f"{policy.max_segment_regression:.4f} {metric}: {named}",
            worst_diff,
            allowed,
        )
    return Gate(
        "segments",
        "passed",
        f"no segment of {len(checked)} with at least {policy.min_segment_rows} rows loses "
        f"more than {policy.max_segment_regression:.4f} {metric}",
        min(checked),
        allowed,
    )


def _calibration_gate(result: BenchmarkResult, policy: PromotionSection) -> Gate:
    metric = TASKS.get(result.task).calibration_metric
    if metric is None:
        return Gate("calibration", "skipped", f"task {result.task} has no calibration metric")
    ece = result.challenger.metrics[metric]
    limit = policy.max_ece
    text = f"ECE {ece:.4f} (ceiling {policy.max_ece:.4f}"
    if result.champion is not None:
        base = result.champion.metrics[metric]
        limit = min(limit, base + policy.max_calibration_increase)
        text += f"; champion {base:.4f} + {policy.max_calibration_increase:.4f} allowed"
    failure = not meets(ece, limit, greater_is_better=False)
    verdict = "too poorly calibrated" if failure else "calibrated well enough"
    return Gate("calibration", "failed" if failure else "passed", f"{text}): {verdict}", ece, limit)


def _approval_gate(policy: PromotionSection, approval: Approval | None) -> Gate:
    if not policy.manual_approval:
        return Gate("manual_approval", "skipped", "not required by the spec")
    if approval is None:
        return Gate("manual_approval", "pending", "waiting for a person to approve")
    comment = f": {approval.comment}" if approval.comment else ""
    if approval.approved:
        return Gate("manual_approval", "passed", f"approved by {approval.reviewer}{comment}")
    return Gate("manual_approval", "failed", f"rejected by {approval.reviewer}{comment}")


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4f}"
