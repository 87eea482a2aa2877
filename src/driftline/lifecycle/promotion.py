"""Promotion and rollback: the actions taken on a gate report, and their audit trail.

The gates themselves are pure (:mod:`driftline.lifecycle.gates`). :func:`promote` moves
the aliases only when every gate passed, in an order that never leaves the model with zero
or two champions: ``previous-champion`` is pointed at the current champion first, then
``champion`` is moved (one atomic alias update), then the ``challenger`` alias is dropped.
Every decision is written to the store's audit trail and as tags on the model versions
concerned. :func:`rollback` restores ``previous-champion``. :func:`install_champion`
makes a version champion without gates (a model adopted from production), audited the
same way.

Every outcome is recorded by one helper, :func:`_record_decision`: the audit row, the
``driftline.*`` decision tags on the versions concerned and, for a judged challenger, the
gate report on its benchmark run.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from driftline.config.errors import RegistryError
from driftline.config.times import utc_now
from driftline.data.store import Store
from driftline.lifecycle import audit
from driftline.lifecycle.benchmark import benchmark, latest_benchmark
from driftline.lifecycle.gates import Approval, GateReport, evaluate_gates
from driftline.lifecycle.registry import CHALLENGER, CHAMPION, PREVIOUS, TAG, Registry
from driftline.lifecycle.results import BenchmarkResult
from driftline.specs import ModelSpec

log = logging.getLogger(__name__)


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
    retrain_reason: str | None = None

    @property
    def promoted(self) -> bool:
        return self.status == "promoted"


def default_actor() -> str:
    """Who is running this, for the audit trail (``cli:<user>``)."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user database (containers)
        return "cli:unknown"


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
    stored = latest_benchmark(store, spec.name, challenger, champion)
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
    return apply_gate_report(store, registry, spec, report, triggered_by=triggered_by, note=note)


def apply_gate_report(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    report: GateReport,
    *,
    triggered_by: str | None = None,
    note: str = "",
) -> PromotionOutcome:
    """Act on a gate report: promote the challenger when every gate passed, record the
    rejection when one failed, or return ``pending`` (nothing recorded) while only the
    manual approval is missing. The challenger's reason (its ``driftline.reason`` tag:
    drift, performance, ...) goes into the audit text and the outcome. Raises
    RegistryError when the registry changed since the benchmark or an alias move failed
    (audited as ``failed``)."""
    actor = triggered_by or default_actor()
    why = registry.version(spec, report.challenger_version).tags.get(f"{TAG}reason") or None
    note = "; ".join(part for part in (f"reason: {why}" if why else "", note) if part)
    base = {
        "model": spec.name,
        "action": "promote",
        "challenger_version": report.challenger_version,
        "champion_before": report.champion_version,
        "triggered_by": actor,
        "report": report,
        "retrain_reason": why,
    }
    if report.pending:
        return PromotionOutcome(
            status="pending",
            champion_after=report.champion_version,
            reason=report.summary(),
            **base,
        )
    if not report.passed:
        audit_id = _record_decision(
            store,
            registry,
            spec,
            action="promote",
            outcome="rejected",
            actor=actor,
            reason=_with_note(report.summary(), note),
            champion_before=report.champion_version,
            champion_after=report.champion_version,
            report=report,
            version=report.challenger_version,
            tags={f"{TAG}failed_gates": ",".join(g.name for g in report.failed)},
        )
        log.info("%s", report.summary())
        return PromotionOutcome(
            status="rejected",
            champion_after=report.champion_version,
            reason=report.summary(),
            audit_id=audit_id,
            **base,
        )
    return _promote_challenger(store, registry, spec, report, actor, note, why)


def _promote_challenger(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    report: GateReport,
    actor: str,
    note: str,
    why: str | None,
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
    if not moved:
        _move_champion(
            store,
            registry,
            spec,
            new=new,
            old=old,
            actor=actor,
            what=f"promotion of v{new}",
            retry=f"run `driftline promote --model {spec.name}` again",
            report=report,
        )
    warnings = []
    try:
        if challenger_now is not None:
            registry.delete_alias(spec, CHALLENGER)
    except Exception as exc:  # the promotion itself is complete
        warnings.append(f"could not drop the challenger alias from v{new}: {exc}")
        log.warning("%s: %s", spec.name, warnings[-1])
    stamp = _stamp()
    audit_id = _record_decision(
        store,
        registry,
        spec,
        action="promote",
        outcome="promoted",
        actor=actor,
        reason=reason,
        champion_before=old,
        champion_after=new,
        report=report,
        version=new,
        tags={f"{TAG}replaced_version": old or "", f"{TAG}gates": report.summary()},
        others={old: {f"{TAG}replaced_by": new, f"{TAG}replaced_at": stamp}} if old else {},
        at=stamp,
    )
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
        retrain_reason=why,
    )


def install_champion(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    version: str,
    *,
    reason: str,
    triggered_by: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> PromotionOutcome:
    """Make ``version`` the champion without a benchmark or gates: for a model that
    already serves in production and is being adopted (:mod:`driftline.lifecycle.adopt`).

    Aliases move as in a promotion (``previous-champion`` to the current champion first,
    then ``champion``), so a rollback restores the model it replaced. The decision is
    recorded like a promotion (action ``adopt``, outcome ``promoted``, ``reason`` first in
    the audit text,
    decision tags plus ``tags`` on the version). RegistryError when the version already is
    champion or an alias move fails (audited as ``failed``; the old champion stays).
    """
    actor = triggered_by or default_actor()
    old = registry.version_by_alias(spec, CHAMPION)
    if old == version:
        raise RegistryError(f"{spec.name} version {version} already is the champion")
    _move_champion(
        store,
        registry,
        spec,
        new=version,
        old=old,
        actor=actor,
        what=f"making v{version} the champion",
        retry="try again",
    )
    text = reason + (f", replacing v{old}" if old else " (first model)")
    stamp = _stamp()
    audit_id = _record_decision(
        store,
        registry,
        spec,
        action="adopt",
        outcome="promoted",
        actor=actor,
        reason=text,
        champion_before=old,
        champion_after=version,
        version=version,
        tags={**(tags or {}), f"{TAG}replaced_version": old or ""},
        others={old: {f"{TAG}replaced_by": version, f"{TAG}replaced_at": stamp}} if old else {},
        at=stamp,
    )
    log.info("%s: %s", spec.name, text)
    return PromotionOutcome(
        model=spec.name,
        action="promote",
        status="promoted",
        challenger_version=version,
        champion_before=old,
        champion_after=version,
        reason=text,
        triggered_by=actor,
        audit_id=audit_id,
        retrain_reason=(tags or {}).get(f"{TAG}reason"),
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
        _record_decision(
            store,
            registry,
            spec,
            action="rollback",
            outcome="failed",
            actor=actor,
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
    stamp = _stamp()
    audit_id = _record_decision(
        store,
        registry,
        spec,
        action="rollback",
        outcome="rolled_back",
        actor=actor,
        reason=text,
        champion_before=champion,
        champion_after=previous,
        version=champion,
        tags={f"{TAG}rollback_reason": reason},
        others={previous: {f"{TAG}restored_at": stamp}},
        at=stamp,
    )
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


def _move_champion(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    *,
    new: str,
    old: str | None,
    actor: str,
    what: str,
    retry: str,
    report: GateReport | None = None,
) -> None:
    """Point ``previous-champion`` at ``old`` (when there is one), then ``champion`` at
    ``new``: never zero or two champions. A failed move is audited (outcome ``failed``)
    and raised as a RegistryError saying what moved, who is champion now and what to do
    (``retry``)."""
    done: list[str] = []
    try:
        if old is not None:
            registry.set_alias(spec, PREVIOUS, old)
            done.append(f"previous-champion -> v{old}")
        registry.set_alias(spec, CHAMPION, new)
        done.append(f"champion -> v{new}")
    except Exception as exc:
        after = _safe_alias(registry, spec, CHAMPION)
        _record_decision(
            store,
            registry,
            spec,
            action="promote",
            outcome="failed",
            actor=actor,
            reason=f"{what} interrupted after: {', '.join(done) or 'no step'}",
            champion_before=old,
            champion_after=after,
            report=report,
            error=f"{type(exc).__name__}: {exc}",
        )
        raise RegistryError(
            f"{spec.name}: {what} was interrupted ({type(exc).__name__}: {exc}) "
            f"after {', '.join(done) or 'no alias move'}. The champion is still "
            f"{'v' + after if after else 'unset'}; fix the registry connection and {retry}."
        ) from exc


def _record_decision(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    *,
    action: Literal["promote", "adopt", "rollback"],
    outcome: Literal["promoted", "rejected", "rolled_back", "failed"],
    actor: str,
    reason: str,
    champion_before: str | None,
    champion_after: str | None,
    report: GateReport | None = None,
    version: str | None = None,
    tags: Mapping[str, str] | None = None,
    others: Mapping[str, Mapping[str, str]] | None = None,
    at: str | None = None,
    error: str | None = None,
) -> int:
    """Record one decision; returns its audit id.

    Always appends the audit row (with the gate report, its benchmark and challenger when
    ``report`` is given). A ``failed`` outcome stops there: the registry is what failed.
    Otherwise ``version`` (the version decided about) gets the decision tags
    (``decision``, ``decision_at``, ``decision_by``, then ``tags``, then ``audit_id``),
    each version in ``others`` its own tags, and a judged challenger's gate report is
    logged to its benchmark run. ``at`` is the decision time (default: now, UTC).
    """
    audit_id = audit.record_decision(
        store,
        model=spec.name,
        action=action,
        outcome=outcome,
        triggered_by=actor,
        reason=reason,
        challenger_version=report.challenger_version if report else None,
        champion_before=champion_before,
        champion_after=champion_after,
        benchmark_id=report.benchmark_id if report else None,
        gate_report=report.to_dict() if report else None,
        error=error,
    )
    if outcome == "failed":
        return audit_id
    if version is None:
        raise ValueError(f"a {outcome!r} decision needs the version it is about")
    registry.set_version_tags(
        spec,
        version,
        {
            f"{TAG}decision": outcome,
            f"{TAG}decision_at": at or _stamp(),
            f"{TAG}decision_by": actor,
            **(tags or {}),
            f"{TAG}audit_id": str(audit_id),
        },
    )
    for other, other_tags in (others or {}).items():
        registry.set_version_tags(spec, other, dict(other_tags))
    if report is not None:
        _log_gate_report(registry, report, outcome)
    return audit_id


def _log_gate_report(registry: Registry, report: GateReport, outcome: str) -> None:
    """The gate report as artifacts of the benchmark run, for the MLflow UI. The store's
    audit trail is the record; a failure here is only logged."""
    if not report.benchmark_run_id:
        return
    try:
        registry.log_run_files(
            report.benchmark_run_id,
            {
                "gate_report.md": f"{report.to_markdown()}\n\n**Outcome: {outcome}.**\n",
                "gate_report.json": {**report.to_dict(), "outcome": outcome},
            },
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


def _stamp() -> str:
    """Now, as the ISO text of a version tag (UTC, seconds)."""
    return utc_now().isoformat(timespec="seconds")
