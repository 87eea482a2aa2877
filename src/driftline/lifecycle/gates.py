"""Promotion gates: a benchmark result and the spec's ``promotion`` section in, a
:class:`GateReport` out.

Each gate is passed, failed, skipped or pending, with the numbers behind it and a
one-line reason. An absolute budget (floor, ECE ceiling, latency, size) that the champion
itself breaks gives way to the champion's own value: a challenger no worse than the
champion passes it, and the reason says so. Every threshold is a plain comparison of
numbers (:func:`meets`: a value equal to its threshold passes, NaN fails), so the gates
import neither MLflow nor anything else that does I/O. Nothing here acts: moving aliases,
tagging versions and writing the audit trail on a report is
:mod:`driftline.lifecycle.promotion`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
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
    "class_recall",
    "calibration",
    "latency",
    "size",
    "manual_approval",
)
_MB = 1_000_000  # megabytes (SI), as every size driftline prints


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
    #: The task's calibration tables on the benchmark window (e.g. regression's mean
    #: predicted vs mean actual per predicted decile), keyed "challenger v5", "champion v3".
    calibration: dict[str, list[dict[str, float]]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when no gate failed and none is waiting for a person."""
        return all(g.status in ("passed", "skipped") for g in self.gates)

    @property
    def pending(self) -> bool:
        """True when only the manual approval is missing."""
        return not self.failed and any(g.status == "pending" for g in self.gates)

    def metrics(self) -> dict[str, float]:
        """The gates' numbers as MLflow metrics: ``gate_<name>_observed`` and
        ``gate_<name>_threshold`` (in the metric's units) where the gate has them,
        ``gate_<name>_passed`` (1.0 passed, 0.0 failed; skipped and pending gates have
        none) and ``gates_passed`` (1.0 when the report passed). Non-finite values are
        left out (MLflow cannot chart them)."""
        import math

        out: dict[str, float] = {"gates_passed": 1.0 if self.passed else 0.0}
        for gate in self.gates:
            if gate.status in ("passed", "failed"):
                out[f"gate_{gate.name}_passed"] = 1.0 if gate.status == "passed" else 0.0
            for what, value in (("observed", gate.observed), ("threshold", gate.threshold)):
                if value is not None and math.isfinite(value):
                    out[f"gate_{gate.name}_{what}"] = float(value)
        return out

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
        for who, table in self.calibration.items():
            lines += [
                "",
                f"Calibration of {who} by predicted decile:",
                "",
                "| decile | rows | mean predicted | mean actual |",
                "|---|---|---|---|",
                *(
                    f"| {r['decile']:.0f} | {r['rows']:,.0f} | {_fmt(r['mean_predicted'])} | "
                    f"{_fmt(r['mean_actual'])} |"
                    for r in table
                ),
            ]
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

    higher = TASKS.get(result.task).higher_is_better(metric)
    bad = _not_finite(f"the challenger's {metric}", value)
    failure = bool(bad) or not meets(value, policy.min_primary_metric, greater_is_better=higher)
    bound = "floor" if higher else "ceiling"
    gates.append(
        Gate(
            "floor",
            "failed" if failure else "passed",
            bad
            or f"{metric} {value:.4f} "
            + (
                ("is below" if higher else "is above")
                if failure
                else ("reaches" if higher else "is within")
            )
            + f" the {bound} {policy.min_primary_metric:.4f}",
            value,
            policy.min_primary_metric,
        )
    )
    gates[-1] = _relative_to_champion(
        gates[-1],
        result,
        champ.metrics.get(metric) if champ else None,
        greater_is_better=TASKS.get(result.task).metrics.get(metric, True),
    )
    if champ is None:
        skipped = "no champion yet: first model, champion gates skipped"
        gates += [Gate(n, "skipped", skipped) for n in ("improvement", "non_inferiority")]
        gates.append(Gate("segments", "skipped", skipped))
    else:
        gates += _champion_gates(result, policy)
    gates.append(class_recall_gate(result, policy))
    gates.append(_calibration_gate(result, policy))

    speed = chal.rows_per_second
    bad = "" if speed == math.inf else _not_finite("the challenger's scoring throughput", speed)
    failure = bool(bad) or not meets(speed, policy.min_rows_per_second)
    gates.append(
        Gate(
            "latency",
            "failed" if failure else "passed",
            bad
            or f"scores {speed:,.0f} rows/s "
            + ("below" if failure else "within")
            + f" the budget of {policy.min_rows_per_second:,.0f} rows/s",
            speed,
            policy.min_rows_per_second,
        )
    )
    gates[-1] = _relative_to_champion(
        gates[-1], result, champ.rows_per_second if champ else None, greater_is_better=True
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
    gates[-1] = _relative_to_champion(
        gates[-1], result, champ.size_bytes / _MB if champ else None, greater_is_better=False
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
        calibration={
            f"{who} v{score.version}": score.calibration
            for who, score in (("challenger", chal), ("champion", champ))
            if score is not None and score.calibration
        },
    )


def _champion_gates(result: BenchmarkResult, policy: PromotionSection) -> list[Gate]:
    metric = result.primary_metric
    if result.champion is None or result.diff is None:
        raise ValueError("the champion gates need a benchmark against a champion")
    value = result.challenger.metrics[metric]
    base = result.champion.metrics[metric]
    higher = TASKS.get(result.task).higher_is_better(metric)
    gates = []
    bad = _not_finite(f"the challenger's {metric}", value) or _not_finite(
        f"the champion's {metric}", base
    )
    # Differences are challenger - champion; for a metric where lower is better (an
    # error), an improvement is a negative difference and every bound flips.
    sign = 1.0 if higher else -1.0
    needed = base + sign * policy.min_improvement
    failure = bool(bad) or not meets(value, needed, greater_is_better=higher)
    gates.append(
        Gate(
            "improvement",
            "failed" if failure else "passed",
            bad
            or f"{metric} {value:.4f} vs champion {base:.4f} ({result.diff:+.4f}; "
            f"needs {'at least' if higher else 'at most'} "
            f"{sign * policy.min_improvement:+.4f}"
            + ("" if higher else f", {metric}: lower is better")
            + ")",
            result.diff,
            sign * policy.min_improvement,
        )
    )
    # The bound of the interval on the losing side: the lower bound of a gain, the upper
    # bound of an error's change.
    edge = result.ci_low if higher else result.ci_high
    bound = edge if edge is not None else float("nan")
    allowed = -sign * policy.non_inferiority_margin
    failure = not meets(bound, allowed, greater_is_better=higher)
    gates.append(
        Gate(
            "non_inferiority",
            "failed" if failure or not math.isfinite(bound) else "passed",
            _not_finite(
                f"the {'lower' if higher else 'upper'} bound of the bootstrap interval of "
                f"the {metric} difference",
                bound,
            )
            or f"{result.confidence:.0%} bootstrap interval of the {metric} difference is "
            f"[{_signed(result.ci_low)}, {_signed(result.ci_high)}]; its "
            f"{'lower' if higher else 'upper'} bound must be "
            f"{'at least' if higher else 'at most'} {allowed:+.4f}",
            bound,
            allowed,
        )
    )
    gates.append(_segment_gate(result, policy))
    return gates


def _segment_gate(result: BenchmarkResult, policy: PromotionSection) -> Gate:
    metric = result.primary_metric
    task = TASKS.get(result.task)
    higher = task.higher_is_better(metric)
    allowed = (-1.0 if higher else 1.0) * policy.max_segment_regression
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
        if not meets(diff, allowed, greater_is_better=higher):
            regressions.append((diff, s))
    if not checked:
        return Gate(
            "segments",
            "skipped",
            f"no segment has {policy.min_segment_rows} rows with labels the task can "
            "compare (for a classifier: both classes)",
        )
    if regressions:
        # Worst first: the largest loss in the metric's own direction.
        regressions.sort(key=lambda item: item[0] if higher else -item[0])
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
        f"more than {policy.max_segment_regression:.4f} {metric}"
        + ("" if higher else " (lower is better: a loss is a rise)"),
        min(checked) if higher else max(checked),
        allowed,
    )


def class_recall_gate(result: BenchmarkResult, policy: PromotionSection) -> Gate:
    """No class may lose more than ``policy.max_class_recall_drop`` of recall (absolute,
    challenger - champion on the benchmark window): a multiclass challenger that is better
    on average but stops finding one class is blocked. Skipped without a champion or for a
    task without per-class recall (``recall_<class>`` metrics, e.g. binary); a class whose
    recall is undefined on either side (no rows of it) is reported, not gated."""
    from driftline.tasks.multiclass import class_recalls

    challenger = class_recalls(result.challenger.metrics)
    if not challenger:
        return Gate("class_recall", "skipped", f"task {result.task} has no per-class recall")
    if result.champion is None:
        return Gate("class_recall", "skipped", "no champion yet: nothing to compare with")
    champion = class_recalls(result.champion.metrics)
    margin = policy.max_class_recall_drop
    diffs = {
        c: challenger[c] - champion[c]
        for c in challenger
        if c in champion and math.isfinite(challenger[c]) and math.isfinite(champion[c])
    }
    unjudged = sorted(set(challenger) - set(diffs))
    note = f" (not judged, no rows: {', '.join(unjudged)})" if unjudged else ""
    if not diffs:
        return Gate("class_recall", "skipped", f"no class has rows on both sides{note}")
    worst = min(diffs, key=lambda c: diffs[c])
    lost = {c: d for c, d in diffs.items() if not meets(d, 0.0 - margin)}
    if lost:
        named = ", ".join(
            f"{c} {champion[c]:.4f} -> {challenger[c]:.4f} ({d:+.4f})"
            for c, d in sorted(lost.items(), key=lambda item: item[1])
        )
        return Gate(
            "class_recall",
            "failed",
            f"{len(lost)} of {len(diffs)} classes lose more than {margin:.4f} recall: "
            f"{named}{note}",
            diffs[worst],
            0.0 - margin,
        )
    return Gate(
        "class_recall",
        "passed",
        f"no class of {len(diffs)} loses more than {margin:.4f} recall (worst: {worst} "
        f"{diffs[worst]:+.4f}){note}",
        diffs[worst],
        0.0 - margin,
    )


def _calibration_gate(result: BenchmarkResult, policy: PromotionSection) -> Gate:
    metric = TASKS.get(result.task).calibration_metric
    if metric is None:
        return Gate("calibration", "skipped", f"task {result.task} has no calibration metric")
    ece = result.challenger.metrics[metric]
    limit = policy.max_ece
    label = "ECE" if metric == "ece" else metric
    text = f"{label} {ece:.4f} (ceiling {policy.max_ece:.4f}"
    if result.champion is not None:
        base = result.champion.metrics[metric]
        if not meets(base, policy.max_ece, greater_is_better=False) and math.isfinite(base):
            return _relative_gate(
                "calibration",
                ece,
                base,
                f"ECE {ece:.4f} vs champion {base:.4f}: the champion itself is above the "
                f"ceiling {policy.max_ece:.4f}, so the ceiling gives way to the champion's "
                "own value",
                greater_is_better=False,
            )
        limit = min(limit, base + policy.max_calibration_increase)
        text += f"; champion {base:.4f} + {policy.max_calibration_increase:.4f} allowed"
    bad = _not_finite(f"the challenger's {metric}", ece) or _not_finite(
        f"the champion's {metric}", limit
    )
    failure = bool(bad) or not meets(ece, limit, greater_is_better=False)
    verdict = "too poorly calibrated" if failure else "calibrated well enough"
    reason = bad or f"{text}): {verdict}"
    return Gate("calibration", "failed" if failure else "passed", reason, ece, limit)


def _not_finite(what: str, value: float | None) -> str:
    """The reason of a gate failed by a value that is not a finite number (a diverged
    model scores NaN, so every metric of it is NaN); "" for a finite value."""
    if value is not None and math.isfinite(value):
        return ""
    return (
        f"{what} is not a finite number ({value}); a model whose numbers are not finite "
        "(e.g. a diverged model scoring NaN) cannot pass"
    )


# -- absolute budgets relative to the champion ----------------------------------------------
#
# An absolute floor or ceiling (primary-metric floor, ECE ceiling, latency and size
# budgets) judges a challenger only when the champion itself keeps it: when the serving
# model already breaks a budget, a challenger that breaks it less (or no more) is an
# improvement, and rejecting it would keep the worse model serving. The gate then compares
# with the champion's own value and says so.


def _relative_gate(
    name: str, value: float, champion: float, text: str, *, greater_is_better: bool
) -> Gate:
    """A gate judged against the champion's own ``champion`` value instead of an absolute
    budget the champion breaks: passes when ``value`` is at least as good (NaN fails)."""
    failure = not math.isfinite(value) or not meets(
        value, champion, greater_is_better=greater_is_better
    )
    verdict = "worse than the champion" if failure else "no worse than the champion"
    return Gate(name, "failed" if failure else "passed", f"{text}: {verdict}", value, champion)


def _relative_to_champion(
    gate: Gate, result: BenchmarkResult, champion: float | None, *, greater_is_better: bool
) -> Gate:
    """``gate`` (an absolute budget the challenger failed) judged against the champion's
    value instead when the champion breaks the same budget; otherwise ``gate`` as it is."""
    if (
        gate.status != "failed"
        or result.champion is None
        or champion is None
        or not math.isfinite(champion)
        or gate.threshold is None
        or meets(champion, gate.threshold, greater_is_better=greater_is_better)
        or gate.observed is None
    ):
        return gate
    return _relative_gate(
        gate.name,
        gate.observed,
        champion,
        f"{gate.reason}; the champion itself breaks this budget ({_fmt(champion)}), so the "
        "budget gives way to the champion's own value",
        greater_is_better=greater_is_better,
    )


def _approval_gate(policy: PromotionSection, approval: Approval | None) -> Gate:
    if not policy.manual_approval:
        return Gate("manual_approval", "skipped", "not required by the spec")
    if approval is None:
        return Gate("manual_approval", "pending", "waiting for a person to approve")
    comment = f": {approval.comment}" if approval.comment else ""
    if approval.approved:
        return Gate("manual_approval", "passed", f"approved by {approval.reviewer}{comment}")
    return Gate("manual_approval", "failed", f"rejected by {approval.reviewer}{comment}")


def _signed(value: float | None) -> str:
    return "nan" if value is None else f"{value:+.4f}"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4f}"
