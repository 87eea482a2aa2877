"""The lifecycle's records in the store: benchmark results and the decision audit trail.

Tables come from migration 0002 (``dl_benchmarks``, ``dl_model_decisions``). Rows are
only ever inserted, never updated: the audit trail says what happened, in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from driftline.config.times import utc
from driftline.config.values import finite_or_none
from driftline.data.store import Store

if TYPE_CHECKING:
    from driftline.lifecycle.benchmark import BenchmarkResult

BENCHMARKS_TABLE = "dl_benchmarks"
DECISIONS_TABLE = "dl_model_decisions"


@dataclass(frozen=True)
class DecisionRecord:
    """One row of the audit trail."""

    id: int
    model: str
    action: str  # promote | rollback
    outcome: str  # promoted | rejected | rolled_back | failed
    challenger_version: str | None
    champion_before: str | None
    champion_after: str | None
    triggered_by: str
    reason: str
    benchmark_id: int | None
    gate_report: dict[str, Any] | None
    error: str | None
    created_at: pd.Timestamp


def record_benchmark(store: Store, result: BenchmarkResult) -> int:
    """Insert a benchmark result; returns its id."""
    table = store.table(BENCHMARKS_TABLE)
    primary = result.primary_metric
    values = {
        "model": result.model,
        "challenger_version": result.challenger.version,
        "champion_version": result.champion.version if result.champion else None,
        "window_start": pd.Timestamp(result.window_start).to_pydatetime(),
        "window_end": pd.Timestamp(result.window_end).to_pydatetime(),
        "rows": result.rows,
        "primary_metric": primary,
        "challenger_value": finite_or_none(result.challenger.metrics[primary]),
        "champion_value": finite_or_none(result.champion.metrics[primary])
        if result.champion
        else None,
        "diff": finite_or_none(result.diff),
        "ci_low": finite_or_none(result.ci_low),
        "ci_high": finite_or_none(result.ci_high),
        "result_json": result.to_json(),
        "mlflow_run_id": result.mlflow_run_id,
        "created_at": datetime.now(UTC),
    }
    with store.engine.begin() as conn:
        return int(conn.execute(table.insert().values(**values)).inserted_primary_key[0])


def latest_benchmark(
    store: Store, model: str, challenger: str, champion: str | None
) -> BenchmarkResult | None:
    """The newest stored benchmark of exactly this challenger against this champion."""
    from driftline.lifecycle.benchmark import BenchmarkResult

    table = store.table(BENCHMARKS_TABLE)
    champion_match = (
        table.c.champion_version.is_(None)
        if champion is None
        else table.c.champion_version == champion
    )
    query = (
        sa.select(table.c.id, table.c.result_json)
        .where(table.c.model == model, table.c.challenger_version == challenger, champion_match)
        .order_by(table.c.id.desc())
        .limit(1)
    )
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    data = json.loads(row.result_json)
    data["benchmark_id"] = int(row.id)
    return BenchmarkResult.from_dict(data)


def record_decision(
    store: Store,
    *,
    model: str,
    action: str,
    outcome: str,
    triggered_by: str,
    reason: str,
    challenger_version: str | None = None,
    champion_before: str | None = None,
    champion_after: str | None = None,
    benchmark_id: int | None = None,
    gate_report: dict[str, Any] | None = None,
    error: str | None = None,
) -> int:
    """Append one decision to the audit trail; returns its id."""
    table = store.table(DECISIONS_TABLE)
    values = {
        "model": model,
        "action": action,
        "outcome": outcome,
        "challenger_version": challenger_version,
        "champion_before": champion_before,
        "champion_after": champion_after,
        "triggered_by": triggered_by[:200],
        "reason": reason,
        "benchmark_id": benchmark_id,
        "gate_report_json": json.dumps(gate_report, default=str) if gate_report else None,
        "error": error,
        "created_at": datetime.now(UTC),
    }
    with store.engine.begin() as conn:
        return int(conn.execute(table.insert().values(**values)).inserted_primary_key[0])


def recent_decisions(store: Store, model: str, limit: int = 10) -> list[DecisionRecord]:
    """The newest decisions about ``model``, newest first."""
    table = store.table(DECISIONS_TABLE)
    query = sa.select(table).where(table.c.model == model).order_by(table.c.id.desc()).limit(limit)
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        DecisionRecord(
            id=int(r["id"]),
            model=r["model"],
            action=r["action"],
            outcome=r["outcome"],
            challenger_version=r["challenger_version"],
            champion_before=r["champion_before"],
            champion_after=r["champion_after"],
            triggered_by=r["triggered_by"],
            reason=r["reason"],
            benchmark_id=r["benchmark_id"],
            gate_report=json.loads(r["gate_report_json"]) if r["gate_report_json"] else None,
            error=r["error"],
            created_at=utc(r["created_at"]),
        )
        for r in rows
    ]
