"""Gates, promotion, rollback and their audit trail.

:func:`evaluate_gates` is pure: a benchmark result and the spec's ``promotion`` section in,
a :class:`GateReport` out, each gate passed / failed / skipped / pending with its numbers
and a one-line reason. The threshold checks go through MLflow's own model validation
(``mlflow.validate_evaluation_results`` with ``MetricThreshold``).

:func:`promote` moves the aliases only when every gate passed, in an order that never
leaves the model with zero or two champions: ``previous-champion`` is pointed at the
current champion first, then ``champion`` is moved (one atomic alias update), then the
``challenger`` alias is dropped. Every decision is written to the store's audit trail and
as tags on the model versions concerned. :func:`rollback` restores ``previous-champion``.
"""

from __future__ import annotations

import getpass
import logging
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from driftline.config.errors import RegistryError
from driftline.data.store import Store
from driftline.lifecycle import audit
from driftline.lifecycle.benchmark import BenchmarkResult, benchmark
from driftline.lifecycle.registry import CHALLENGER, CHAMPION, PREVIOUS, TAG, Registry
from driftline.specs import ModelSpec, PromotionSection

log = logging.getLogger(__name__)

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
        """A table a reviewer reads in the Prefect UI, a PR or a Slack thread."""
        icon = {"passed": "✅", "failed": "❌", "skipped": "⏭️", "pending": "⏳"}
        lines = [
            f"### Gate report: {self.model} v{self.challenger_version}"
            + (f" vs champion v{self.champion_version}" if self.champion_version else ""),
            "",
            f"**{self.summary()}**",
            "",
            f"Benchmark window: {self.window} (primary metric: {self.primary_metric})",
            "",
            "| gate | result | observed | threshold | reason |",
            "|---|---|---|---|---|",
        ]
        for g in self.gates:
            lines.append(
                f"| {g.name} | {icon[g.status]} {g.status} | {_fmt(g.observed)} | "
                f"{_fmt(g.threshold)} | {g.reason.replace('|', '/')} |"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class PromotionOutcome:
    """What a promotion or rollback did (expected outcomes, including rejection)."""

    model: str
    action: Literal["promote", "rollback"]
    status: Literal["promoted", "rejected", "pending", "rolled_back"]
    challenger_version: str | None
    champion_before: str | None
    champion_after: str | None
    reason: str
    triggered_by: str
    report: GateReport | None = None
    audit_id: int | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def promoted(self) -> bool:
        return self.status == "promoted"


def default_actor() -> str:
    """Who is running this, for the audit trail (``cli:<user>``)."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user database (containers)
        return "cli:unknown"


# -- gates (pure) -----------------------------------------------------------------------


def _validate(
    metric: str, candidate: float, threshold: Any, baseline: float | None = None
) -> str | None:
    """None when MLflow's validation passes, else MLflow's failure message."""
    import mlflow
    from mlflow.models.evaluation import EvaluationResult
    from mlflow.models.evaluation.validation import ModelValidationFailedException

    chatty = logging.getLogger("mlflow.models.evaluation.validation")
    level = chatty.level
    chatty.setLevel(logging.WARNING)  # it logs two INFO lines per check
    try:
        mlflow.validate_evaluation_results(
            {metric: threshold},
            EvaluationResult(metrics={metric: float(candidate)}, artifacts={}),
            EvaluationResult(metrics={metric: float(baseline)}, artifacts={})
            if baseline is not None
            else None,
        )
    except ModelValidationFailedException as exc:
        return str(exc.message).strip()
    finally:
        chatty.setLevel(level)
    return None


def _threshold(
    *, threshold: float | None = None, min_change: float | None = None, greater: bool = True
) -> Any:
    from mlflow.models import MetricThreshold

    return MetricThreshold(
        threshold=None if threshold is None else float(threshold),
        min_absolute_change=None if min_change is None else float(min_change),
        greater_is_better=greater,
    )


def evaluate_gates(
    result: BenchmarkResult, policy: PromotionSection, *, approval: Approval | None = None
) -> GateReport:
    """Judge a benchmark result against the spec's gates (see module docstring)."""
    metric = result.primary_metric
    chal = result.challenger
    champ = result.champion
    value = chal.metrics[metric]
    gates: list[Gate] = []

    failure = _validate(metric, value, _threshold(threshold=policy.min_primary_metric))
    gates.append(
        Gate(
            "floor",
            "failed" if failure or not math.isfinite(value) else "passed",
            f"{metric} {value:.4f} "
            + ("is below" if failure else "reaches")
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
    failure = _validate("rows_per_second", speed, _threshold(threshold=policy.min_rows_per_second))
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
    failure = _validate(
        "model_size_mb", size_mb, _threshold(threshold=policy.max_model_mb, greater=False)
    )
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
    assert result.champion is not None and result.diff is not None
    value = result.challenger.metrics[metric]
    base = result.champion.metrics[metric]
    gates = []
    if policy.min_improvement > 0:
        threshold = _threshold(min_change=policy.min_improvement)
        failure = _validate(metric, value, threshold, base)
    else:
        failure = _validate(metric, value, _threshold(threshold=base))
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
    failure = _validate(
        f"{metric}_diff_ci_low", low, _threshold(threshold=0.0 - policy.non_inferiority_margin)
    )
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
    allowed = 0.0 - policy.max_segment_regression
    checked: list[float] = []
    regressions = []
    for s in result.segments:
        diff = s.diff(metric)
        if (
            s.rows < policy.min_segment_rows
            or not 0 < s.positives < s.rows
            or diff is None
            or not math.isfinite(diff)
        ):
            continue
        checked.append(diff)
        if _validate(f"{metric}_diff[{s.column}={s.value}]", diff, _threshold(threshold=allowed)):
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
    ece = result.challenger.metrics["ece"]
    limit = policy.max_ece
    text = f"ECE {ece:.4f} (ceiling {policy.max_ece:.4f}"
    if result.champion is not None:
        base = result.champion.metrics["ece"]
        limit = min(limit, base + policy.max_calibration_increase)
        text += f"; champion {base:.4f} + {policy.max_calibration_increase:.4f} allowed"
    failure = _validate("ece", ece, _threshold(threshold=limit, greater=False))
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


# -- promotion and rollback ----------------------------------------------------------------


def current_benchmark(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    *,
    as_of: datetime | None = None,
) -> BenchmarkResult:
    """The stored benchmark of the current challenger against the current champion,
    running one if there is none yet."""
    challenger = _require_challenger(registry, spec)
    champion = registry.version_by_alias(spec, CHAMPION)
    stored = audit.latest_benchmark(store, spec.name, challenger, champion)
    if stored is not None and as_of is None:
        return stored
    return benchmark(store, registry, spec, challenger=challenger, as_of=as_of)


def promote(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    *,
    triggered_by: str | None = None,
    approval: Approval | None = None,
    as_of: datetime | None = None,
    result: BenchmarkResult | None = None,
    note: str = "",
) -> PromotionOutcome:
    """Gate the current challenger against the current champion and promote it when
    every gate passes; otherwise record the rejection. Returns the outcome."""
    result = result or current_benchmark(store, registry, spec, as_of=as_of)
    report = evaluate_gates(result, spec.promotion, approval=approval)
    return decide(store, registry, spec, report, triggered_by=triggered_by, note=note)


def decide(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    report: GateReport,
    *,
    triggered_by: str | None = None,
    note: str = "",
) -> PromotionOutcome:
    """Act on a gate report: promote, reject (audited), or report that approval is pending."""
    actor = triggered_by or default_actor()
    base = {
        "model": spec.name,
        "action": "promote",
        "challenger_version": report.challenger_version,
        "champion_before": report.champion_version,
        "triggered_by": actor,
        "report": report,
    }
    if report.pending:
        return PromotionOutcome(
            status="pending",
            champion_after=report.champion_version,
            reason=report.summary(),
            **base,
        )
    if not report.passed:
        audit_id = audit.record_decision(
            store,
            model=spec.name,
            action="promote",
            outcome="rejected",
            triggered_by=actor,
            reason=_with_note(report.summary(), note),
            challenger_version=report.challenger_version,
            champion_before=report.champion_version,
            champion_after=report.champion_version,
            benchmark_id=report.benchmark_id,
            gate_report=report.to_dict(),
        )
        registry.set_version_tags(
            spec,
            report.challenger_version,
            {
                f"{TAG}decision": "rejected",
                f"{TAG}decision_at": _now(),
                f"{TAG}decision_by": actor,
                f"{TAG}failed_gates": ",".join(g.name for g in report.failed),
                f"{TAG}audit_id": str(audit_id),
            },
        )
        _log_gate_report(registry, report, "rejected")
        log.info("%s", report.summary())
        return PromotionOutcome(
            status="rejected",
            champion_after=report.champion_version,
            reason=report.summary(),
            audit_id=audit_id,
            **base,
        )
    return _apply_promotion(store, registry, spec, report, actor, note)


def _apply_promotion(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    report: GateReport,
    actor: str,
    note: str,
) -> PromotionOutcome:
    new, old = report.challenger_version, report.champion_version
    champion_now = registry.version_by_alias(spec, CHAMPION)
    challenger_now = registry.version_by_alias(spec, CHALLENGER)
    # A retry after the champion alias already moved finishes the job instead of failing.
    moved = champion_now == new and challenger_now in (new, None)
    if not moved and (champion_now != old or challenger_now != new):
        raise RegistryError(
            f"{spec.name}: the registry changed since the benchmark (champion now "
            f"{champion_now}, challenger now {challenger_now}; the gates judged v{new} against "
            f"{old}). Run `driftline benchmark --model {spec.name}` again."
        )
    reason = _with_note(
        f"v{new} promoted: every gate passed"
        + (f", replacing v{old}" if old else " (first model)"),
        note,
    )
    done: list[str] = []
    try:
        if old is not None and not moved:
            registry.set_alias(spec, PREVIOUS, old)
            done.append(f"previous-champion -> v{old}")
        if not moved:
            registry.set_alias(spec, CHAMPION, new)
            done.append(f"champion -> v{new}")
    except Exception as exc:
        after = _safe_alias(registry, spec, CHAMPION)
        audit.record_decision(
            store,
            model=spec.name,
            action="promote",
            outcome="failed",
            triggered_by=actor,
            reason=f"promotion of v{new} interrupted after: {', '.join(done) or 'no step'}",
            challenger_version=new,
            champion_before=old,
            champion_after=after,
            benchmark_id=report.benchmark_id,
            gate_report=report.to_dict(),
            error=f"{type(exc).__name__}: {exc}",
        )
        raise RegistryError(
            f"{spec.name}: promotion of v{new} was interrupted ({type(exc).__name__}: {exc}) "
            f"after {', '.join(done) or 'no alias move'}. The champion is still "
            f"{'v' + after if after else 'unset'}; fix the registry connection and run "
            f"`driftline promote --model {spec.name}` again."
        ) from exc
    warnings = []
    try:
        if challenger_now is not None:
            registry.delete_alias(spec, CHALLENGER)
    except Exception as exc:  # the promotion itself is complete
        warnings.append(f"could not drop the challenger alias from v{new}: {exc}")
        log.warning("%s: %s", spec.name, warnings[-1])
    audit_id = audit.record_decision(
        store,
        model=spec.name,
        action="promote",
        outcome="promoted",
        triggered_by=actor,
        reason=reason,
        challenger_version=new,
        champion_before=old,
        champion_after=new,
        benchmark_id=report.benchmark_id,
        gate_report=report.to_dict(),
    )
    stamp = _now()
    registry.set_version_tags(
        spec,
        new,
        {
            f"{TAG}decision": "promoted",
            f"{TAG}decision_at": stamp,
            f"{TAG}decision_by": actor,
            f"{TAG}replaced_version": old or "",
            f"{TAG}gates": report.summary(),
            f"{TAG}audit_id": str(audit_id),
        },
    )
    if old is not None:
        registry.set_version_tags(spec, old, {f"{TAG}replaced_by": new, f"{TAG}replaced_at": stamp})
    _log_gate_report(registry, report, "promoted")
    log.info("%s", reason)
    return PromotionOutcome(
        model=spec.name,
        action="promote",
        status="promoted",
        challenger_version=new,
        champion_before=old,
        champion_after=new,
        reason=reason,
        triggered_by=actor,
        report=report,
        audit_id=audit_id,
        warnings=tuple(warnings),
    )


def rollback(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    *,
    triggered_by: str | None = None,
    reason: str = "",
) -> PromotionOutcome:
    """Make ``previous-champion`` the champion again, audited. The rolled-back version
    keeps a tag saying so and is not offered for another rollback."""
    actor = triggered_by or default_actor()
    champion = registry.version_by_alias(spec, CHAMPION)
    previous = registry.version_by_alias(spec, PREVIOUS)
    if champion is None:
        raise RegistryError(f"{spec.name} has no champion, so there is nothing to roll back")
    if previous is None:
        raise RegistryError(
            f"{spec.name} has no previous-champion to restore (v{champion} was the first "
            f"champion, or it was already rolled back). `driftline models --model {spec.name}` "
            "shows the versions."
        )
    if previous == champion:
        registry.delete_alias(spec, PREVIOUS)
        raise RegistryError(
            f"{spec.name}: previous-champion already pointed at the champion v{champion} "
            "(an interrupted promotion or rollback); the stale alias was removed"
        )
    try:
        registry.set_alias(spec, CHAMPION, previous)
    except Exception as exc:
        audit.record_decision(
            store,
            model=spec.name,
            action="rollback",
            outcome="failed",
            triggered_by=actor,
            reason=reason or "rollback",
            champion_before=champion,
            champion_after=_safe_alias(registry, spec, CHAMPION),
            error=f"{type(exc).__name__}: {exc}",
        )
        raise RegistryError(
            f"{spec.name}: rollback to v{previous} failed ({type(exc).__name__}: {exc}); "
            f"the champion is unchanged. Run `driftline rollback --model {spec.name}` again."
        ) from exc
    registry.delete_alias(spec, PREVIOUS)
    text = f"v{champion} rolled back to v{previous}" + (f": {reason}" if reason else "")
    audit_id = audit.record_decision(
        store,
        model=spec.name,
        action="rollback",
        outcome="rolled_back",
        triggered_by=actor,
        reason=text,
        champion_before=champion,
        champion_after=previous,
    )
    stamp = _now()
    registry.set_version_tags(
        spec,
        champion,
        {
            f"{TAG}decision": "rolled_back",
            f"{TAG}decision_at": stamp,
            f"{TAG}decision_by": actor,
            f"{TAG}rollback_reason": reason,
            f"{TAG}audit_id": str(audit_id),
        },
    )
    registry.set_version_tags(spec, previous, {f"{TAG}restored_at": stamp})
    log.info("%s: %s", spec.name, text)
    return PromotionOutcome(
        model=spec.name,
        action="rollback",
        status="rolled_back",
        challenger_version=None,
        champion_before=champion,
        champion_after=previous,
        reason=text,
        triggered_by=actor,
        audit_id=audit_id,
    )


def _log_gate_report(registry: Registry, report: GateReport, outcome: str) -> None:
    """The gate report as artifacts of the benchmark run, for the MLflow UI. The store's
    audit trail is the record; a failure here is only logged."""
    if not report.benchmark_run_id:
        return
    try:
        registry.client.log_text(
            report.benchmark_run_id,
            f"{report.to_markdown()}\n\n**Outcome: {outcome}.**\n",
            "gate_report.md",
        )
        registry.client.log_dict(
            report.benchmark_run_id, {**report.to_dict(), "outcome": outcome}, "gate_report.json"
        )
    except Exception as exc:
        log.warning("cannot log the gate report to MLflow run %s: %s", report.benchmark_run_id, exc)


def _require_challenger(registry: Registry, spec: ModelSpec) -> str:
    challenger = registry.version_by_alias(spec, CHALLENGER)
    champion = registry.version_by_alias(spec, CHAMPION)
    if challenger is not None and challenger == champion:
        # left over from a promotion whose last step failed: the champion is in place
        registry.delete_alias(spec, CHALLENGER)
        challenger = None
    if challenger is None:
        raise RegistryError(
            f"{spec.name} has no challenger: train one with `driftline train --model {spec.name}`"
        )
    return challenger


def _safe_alias(registry: Registry, spec: ModelSpec, alias: str) -> str | None:
    try:
        return registry.version_by_alias(spec, alias)
    except Exception:
        return None


def _with_note(text: str, note: str) -> str:
    return f"{text} ({note})" if note else text


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4f}"
