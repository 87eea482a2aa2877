"""Promotion and rollback: the actions taken on a gate report, and their audit trail.

The gates themselves are pure (:mod:`driftline.lifecycle.gates`). :func:`promote` moves
the aliases only when every gate passed, in an order that never leaves the model with zero
or two champions: ``previous-champion`` is pointed at the current champion first, then
``champion`` is moved (one atomic alias update), then the ``challenger`` alias is dropped.
Every decision is written to the store's audit trail and as tags on the model versions
concerned. :func:`rollback` restores ``previous-champion``. :func:`install_champion`
makes a version champion without gates (a model adopted from production), audited the
same way.

A promotion is resumable and idempotent. Its *intent* (the gate report) is written to
the store first, as the claim ``promotion:v<new>:over:v<old>`` (:mod:`driftline.data.claims`);
then the aliases move (each move idempotent); then one transaction writes the audit row,
the alert's outbox rows (when an ``announce`` builder is given) and marks the intent done
— a conditional update, so of two promoters racing for the same challenger exactly one
records it; then the version tags. A process killed anywhere, or a lost connection,
leaves an intent that :func:`resume_promotion` (run by :func:`promote`) completes; a
repeat after completion records nothing and returns the first outcome (``repeat_of``).

Every outcome is recorded by one helper, :func:`_record_decision`: the audit row with the
outcome's alert in one transaction, then the ``driftline.*`` decision tags on the
versions concerned and, for a judged challenger, the gate report on its benchmark run.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from sqlalchemy import exc as sa_exc

from driftline.alerts import outbox
from driftline.alerts.message import Alert
from driftline.config.errors import RegistryError, StoreError
from driftline.config.faults import checkpoint
from driftline.config.progress import Progress
from driftline.config.times import utc_now
from driftline.data import claims
from driftline.data.store import Store
from driftline.lifecycle import audit
from driftline.lifecycle.benchmark import benchmark, latest_benchmark
from driftline.lifecycle.gates import Approval, GateReport, evaluate_gates
from driftline.lifecycle.registry import CHALLENGER, CHAMPION, PREVIOUS, TAG, Registry
from driftline.lifecycle.results import BenchmarkResult
from driftline.specs import ModelSpec

log = logging.getLogger(__name__)

PROMOTION_PREFIX = "promotion:"


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
    alert_id: str | None = None
    """The outbox id of the alert recorded with the decision (None: none recorded)."""
    repeat_of: str | None = None
    """Set when this decision had been recorded before (a re-run, or a racing promoter
    that lost): who recorded it and when. Nothing was recorded again."""

    @property
    def promoted(self) -> bool:
        return self.status == "promoted"


#: Builds the alert of a decision (None: no alert), recorded in the audit's transaction.
Announce = Callable[[PromotionOutcome], Alert | None]


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
    progress: Progress | None = None,
) -> BenchmarkResult:
    """The stored benchmark of the current challenger against the current champion,
    running one if there is none yet (its stages reported to ``progress``)."""
    challenger = _require_challenger(registry, spec)
    champion = registry.version_by_alias(spec, CHAMPION)
    stored = latest_benchmark(store, spec.name, challenger, champion)
    if stored is not None and as_of is None:
        return stored
    return benchmark(store, registry, spec, challenger=challenger, as_of=as_of, progress=progress)


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
    announce: Announce | None = None,
    progress: Progress | None = None,
) -> PromotionOutcome:
    """Gate the current challenger against the current champion and promote it when
    every gate passes; otherwise record the rejection. Returns the outcome. ``progress``
    hears of the benchmark's stages when one has to run.

    A promotion that a crash interrupted is completed first (:func:`resume_promotion`),
    and a repeat of a recorded one returns it (``repeat_of`` set) without recording
    anything. ``announce`` builds the decision's alert, recorded in the outbox in the
    audit row's transaction (the caller sends it: ``outcome.alert_id``)."""
    if result is None:
        resumed = resume_promotion(
            store, registry, spec, triggered_by=triggered_by, announce=announce
        )
        if resumed is not None:
            return resumed
    result = result or current_benchmark(store, registry, spec, as_of=as_of, progress=progress)
    report = evaluate_gates(result, spec.promotion, approval=approval)
    return apply_gate_report(
        store, registry, spec, report, triggered_by=triggered_by, note=note, announce=announce
    )


def apply_gate_report(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    report: GateReport,
    *,
    triggered_by: str | None = None,
    note: str = "",
    announce: Announce | None = None,
) -> PromotionOutcome:
    """Act on a gate report: promote the challenger when every gate passed, record the
    rejection when one failed, or return ``pending`` (nothing recorded) while only the
    manual approval is missing. The challenger's reason (its ``driftline.reason`` tag:
    drift, performance, ...) goes into the audit text and the outcome. Idempotent for a
    promotion (module docstring). Raises RegistryError when the registry changed since
    the benchmark or an alias move failed (audited as ``failed``; running it again
    finishes the promotion)."""
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
        rejected = PromotionOutcome(
            status="rejected",
            champion_after=report.champion_version,
            reason=_with_note(report.summary(), note),
            **base,
        )
        log.info("%s", report.summary())
        recorded = _record_decision(
            store,
            registry,
            spec,
            rejected,
            outcome="rejected",
            version=report.challenger_version,
            tags={f"{TAG}failed_gates": ",".join(g.name for g in report.failed)},
            announce=announce,
        )
        assert recorded is not None  # only a promotion's intent can be lost to a racer
        return replace(recorded, reason=report.summary())
    return _promote_challenger(store, registry, spec, report, actor, note, why, announce)


def promotion_key(new: str, old: str | None) -> str:
    """The claim key of promoting ``new`` over ``old`` (the promotion's intent row)."""
    return f"{PROMOTION_PREFIX}v{new}:over:{'v' + old if old else 'none'}"


def _promote_challenger(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    report: GateReport,
    actor: str,
    note: str,
    why: str | None,
    announce: Announce | None,
) -> PromotionOutcome:
    """Promote ``report``'s challenger: resumable and idempotent (module docstring)."""
    new, old = report.challenger_version, report.champion_version
    detail = {"report": report.to_dict(), "note": note}
    intent = claims.claim(store, spec.name, promotion_key(new, old), actor, detail=detail)
    checkpoint("promotion:intent")
    champion_now = registry.version_by_alias(spec, CHAMPION)
    challenger_now = registry.version_by_alias(spec, CHALLENGER)
    moved = champion_now == new
    if not intent.won and intent.state == "abandoned":
        claims.reopen(store, intent, actor, detail=detail)
        intent = claims.find(store, spec.name, intent.key) or intent
    elif not intent.won and intent.state == "done":
        if moved or not (champion_now == old and challenger_now == new):
            return _already_promoted(store, registry, spec, intent)
        # Promoted before, rolled back since, and offered again: a new promotion.
        claims.reopen(store, intent, actor, detail=detail)
        intent = claims.find(store, spec.name, intent.key) or intent
    if not moved and (champion_now != old or challenger_now != new):
        claims.settle(store, intent, "abandoned", f"registry changed: champion {champion_now}")
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
        if challenger_now == new:
            registry.delete_alias(spec, CHALLENGER)
    except Exception as exc:  # the promotion itself is complete
        warnings.append(f"could not drop the challenger alias from v{new}: {exc}")
        log.warning("%s: %s", spec.name, warnings[-1])
    checkpoint("promotion:challenger-dropped")
    outcome = PromotionOutcome(
        model=spec.name,
        action="promote",
        status="promoted",
        challenger_version=new,
        champion_before=old,
        champion_after=new,
        reason=reason,
        triggered_by=actor,
        report=report,
        warnings=tuple(warnings),
        retrain_reason=why,
    )
    stamp = _stamp()
    try:
        recorded = _record_decision(
            store,
            registry,
            spec,
            outcome,
            outcome="promoted",
            version=new,
            tags={f"{TAG}replaced_version": old or "", f"{TAG}gates": report.summary()},
            others={old: {f"{TAG}replaced_by": new, f"{TAG}replaced_at": stamp}} if old else {},
            at=stamp,
            announce=announce,
            intent=intent,
        )
    except sa_exc.DBAPIError as exc:  # the store went away after the alias moved
        raise StoreError(
            f"{spec.name}: v{new} is champion in the registry, but the connection to the "
            f"store was lost ({type(exc.orig).__name__}) before the promotion was audited. "
            "Its intent is recorded: run `driftline promote --model "
            f"{spec.name}` again to complete the audit record and the alert (nothing is "
            "promoted or announced twice)."
        ) from None
    if recorded is None:  # another promoter of the same challenger finished first
        return _already_promoted(store, registry, spec, claims.find(store, spec.name, intent.key))
    log.info("%s", reason)
    return recorded


def _already_promoted(
    store: Store, registry: Registry, spec: ModelSpec, intent: claims.Claim | None
) -> PromotionOutcome:
    """The outcome of a promotion that was recorded before (by this promoter before a
    crash, or by another one): nothing is recorded again; its version tags are set again
    (idempotent) in case a crash cut them short."""
    if intent is None or intent.state != "done":
        raise RegistryError(f"{spec.name}: the promotion's intent record is gone; try again")
    report = GateReport.from_dict(intent.detail["report"])
    new, old = report.challenger_version, report.champion_version
    audit_id = intent.detail.get("audit_id")
    stamp = intent.updated_at.isoformat(timespec="seconds")
    _tag_decision(
        registry,
        spec,
        outcome="promoted",
        actor=intent.owner,
        audit_id=audit_id,
        version=new,
        tags={f"{TAG}replaced_version": old or "", f"{TAG}gates": report.summary()},
        others={old: {f"{TAG}replaced_by": new, f"{TAG}replaced_at": stamp}} if old else {},
        at=stamp,
        report=report,
    )
    return PromotionOutcome(
        model=spec.name,
        action="promote",
        status="promoted",
        challenger_version=new,
        champion_before=old,
        champion_after=new,
        reason=_with_note(f"v{new} promoted: every gate passed", intent.detail.get("note", "")),
        triggered_by=intent.owner,
        report=report,
        audit_id=audit_id,
        alert_id=intent.detail.get("alert_id"),
        repeat_of=intent.describe(),
    )


def resume_promotion(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    *,
    triggered_by: str | None = None,
    announce: Announce | None = None,
) -> PromotionOutcome | None:
    """Finish a promotion that a crash or a lost connection interrupted, or None when
    there is none. An intent whose challenger is champion now, or still challenger over
    the same champion, is completed (aliases, then the audit record and its alert, then
    tags); one the registry has moved past is marked abandoned. A promotion that was
    recorded but whose version tags a crash cut short gets them."""
    actor = triggered_by or default_actor()
    champion_now = registry.version_by_alias(spec, CHAMPION)
    challenger_now = registry.version_by_alias(spec, CHALLENGER)
    for intent in reversed(claims.claims(store, spec.name, prefix=PROMOTION_PREFIX)):
        report = GateReport.from_dict(intent.detail["report"])
        new, old = report.challenger_version, report.champion_version
        if intent.state == "claimed":
            if champion_now == new or (champion_now == old and challenger_now == new):
                note = intent.detail.get("note", "")
                why = registry.version(spec, new).tags.get(f"{TAG}reason") or None
                return _promote_challenger(
                    store, registry, spec, report, actor, note, why, announce
                )
            claims.settle(store, intent, "abandoned", f"the registry moved on to v{champion_now}")
        elif intent.state == "done" and champion_now == new and challenger_now in (None, new):
            if challenger_now == new:
                registry.delete_alias(spec, CHALLENGER)
            return _already_promoted(store, registry, spec, intent)
    return None


def install_champion(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    version: str,
    *,
    reason: str,
    triggered_by: str | None = None,
    tags: Mapping[str, str] | None = None,
    announce: Announce | None = None,
) -> PromotionOutcome:
    """Make ``version`` the champion without a benchmark or gates: for a model that
    already serves in production and is being adopted (:mod:`driftline.lifecycle.adopt`).

    Aliases move as in a promotion (``previous-champion`` to the current champion first,
    then ``champion``), so a rollback restores the model it replaced. The decision is
    recorded like a promotion (action ``adopt``, outcome ``promoted``, ``reason`` first in
    the audit text, decision tags plus ``tags`` on the version; ``announce``'s alert in
    the audit row's transaction). RegistryError when the version already is champion or
    an alias move fails (audited as ``failed``; the old champion stays).
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
    decided = PromotionOutcome(
        model=spec.name,
        action="promote",
        status="promoted",
        challenger_version=version,
        champion_before=old,
        champion_after=version,
        reason=text,
        triggered_by=actor,
        retrain_reason=(tags or {}).get(f"{TAG}reason"),
    )
    recorded = _record_decision(
        store,
        registry,
        spec,
        decided,
        outcome="promoted",
        audit_action="adopt",
        version=version,
        tags={**(tags or {}), f"{TAG}replaced_version": old or ""},
        others={old: {f"{TAG}replaced_by": version, f"{TAG}replaced_at": stamp}} if old else {},
        at=stamp,
        announce=announce,
    )
    assert recorded is not None
    log.info("%s: %s", spec.name, text)
    return recorded


def rollback(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    *,
    triggered_by: str | None = None,
    reason: str = "",
    announce: Announce | None = None,
) -> PromotionOutcome:
    """Make ``previous-champion`` the champion again, audited (with ``announce``'s alert
    in the audit row's transaction). The rolled-back version keeps a tag saying so and is
    not offered for another rollback."""
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
        _record_failure(
            store,
            spec,
            action="rollback",
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
    decided = PromotionOutcome(
        model=spec.name,
        action="rollback",
        status="rolled_back",
        challenger_version=None,
        champion_before=champion,
        champion_after=previous,
        reason=text,
        triggered_by=actor,
    )
    recorded = _record_decision(
        store,
        registry,
        spec,
        decided,
        outcome="rolled_back",
        version=champion,
        tags={f"{TAG}rollback_reason": reason},
        others={previous: {f"{TAG}restored_at": stamp}},
        at=stamp,
        announce=announce,
    )
    assert recorded is not None
    log.info("%s: %s", spec.name, text)
    return recorded


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
            checkpoint("promotion:previous-champion")
        registry.set_alias(spec, CHAMPION, new)
        done.append(f"champion -> v{new}")
        checkpoint("promotion:champion")
    except Exception as exc:
        after = _safe_alias(registry, spec, CHAMPION)
        _record_failure(
            store,
            spec,
            action="promote",
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


def _record_failure(
    store: Store,
    spec: ModelSpec,
    *,
    action: Literal["promote", "rollback"],
    actor: str,
    reason: str,
    champion_before: str | None,
    champion_after: str | None,
    error: str,
    report: GateReport | None = None,
) -> int:
    """Audit a failed alias move (no tags, no alert: the registry is what failed)."""
    return audit.record_decision(
        store,
        model=spec.name,
        action=action,
        outcome="failed",
        triggered_by=actor,
        reason=reason,
        challenger_version=report.challenger_version if report else None,
        champion_before=champion_before,
        champion_after=champion_after,
        benchmark_id=report.benchmark_id if report else None,
        gate_report=report.to_dict() if report else None,
        error=error,
    )


class _LostRace(Exception):
    """Another promoter recorded the same promotion first: roll this transaction back."""


def _record_decision(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    decided: PromotionOutcome,
    *,
    outcome: Literal["promoted", "rejected", "rolled_back"],
    version: str,
    audit_action: Literal["promote", "adopt", "rollback"] | None = None,
    tags: Mapping[str, str] | None = None,
    others: Mapping[str, Mapping[str, str]] | None = None,
    at: str | None = None,
    announce: Announce | None = None,
    intent: claims.Claim | None = None,
) -> PromotionOutcome | None:
    """Record one decision; returns ``decided`` with its audit id and alert id, or None
    when ``intent`` (a promotion's) was settled by another promoter first.

    One transaction appends the audit row (with the gate report, its benchmark and
    challenger when ``decided.report`` is set), records ``announce(decided)``'s alert in
    the outbox and marks ``intent`` done: all of it or none of it. Then ``version`` (the
    version decided about) gets the decision tags (``decision``, ``decision_at``,
    ``decision_by``, then ``tags``, then ``audit_id``), each version in ``others`` its own
    tags, and a judged challenger's gate report is logged to its benchmark run. ``at`` is
    the decision time (default: now, UTC).
    """
    report = decided.report
    alert = announce(decided) if announce is not None else None
    try:
        with store.engine.begin() as conn:
            audit_id = audit.record_decision(
                store,
                model=spec.name,
                action=audit_action or decided.action,
                outcome=outcome,
                triggered_by=decided.triggered_by,
                reason=decided.reason,
                challenger_version=report.challenger_version if report else None,
                champion_before=decided.champion_before,
                champion_after=decided.champion_after,
                benchmark_id=report.benchmark_id if report else None,
                gate_report=report.to_dict() if report else None,
                conn=conn,
            )
            alert_ids = outbox.record(conn, store, alert, spec.alerts) if alert is not None else []
            alert_id = alert.alert_id if alert is not None and alert_ids else None
            if intent is not None and not claims.settle(
                store,
                intent,
                "done",
                f"promoted, audit record {audit_id}",
                detail={**intent.detail, "audit_id": audit_id, "alert_id": alert_id},
                conn=conn,
            ):
                raise _LostRace
    except _LostRace:
        return None
    checkpoint("promotion:audited")
    _tag_decision(
        registry,
        spec,
        outcome=outcome,
        actor=decided.triggered_by,
        audit_id=audit_id,
        version=version,
        tags=tags,
        others=others,
        at=at,
        report=report,
    )
    return replace(decided, audit_id=audit_id, alert_id=alert_id)


def _tag_decision(
    registry: Registry,
    spec: ModelSpec,
    *,
    outcome: str,
    actor: str,
    audit_id: int | None,
    version: str,
    tags: Mapping[str, str] | None,
    others: Mapping[str, Mapping[str, str]] | None,
    at: str | None,
    report: GateReport | None,
) -> None:
    """The decision's tags on the versions concerned and the gate report on the benchmark
    run (each write idempotent, so a re-run after a crash sets them again safely)."""
    registry.set_version_tags(
        spec,
        version,
        {
            f"{TAG}decision": outcome,
            f"{TAG}decision_at": at or _stamp(),
            f"{TAG}decision_by": actor,
            **(tags or {}),
            f"{TAG}audit_id": str(audit_id) if audit_id is not None else "",
        },
    )
    checkpoint("promotion:tagged")
    for other, other_tags in (others or {}).items():
        registry.set_version_tags(spec, other, dict(other_tags))
    checkpoint("promotion:others-tagged")
    if report is not None:
        _log_gate_report(registry, report, outcome)


def _log_gate_report(registry: Registry, report: GateReport, outcome: str) -> None:
    """The gate report as artifacts of the benchmark run, and its numbers as the run's
    metrics (:meth:`GateReport.metrics`), for the MLflow UI. The store's audit trail is
    the record; a failure here is only logged."""
    if not report.benchmark_run_id:
        return
    try:
        registry.log_run_metrics(report.benchmark_run_id, report.metrics())
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
