"""The decision audit trail in the store: every promotion, rejection, rollback and failed
alias move, with who or what triggered it and the gate report.

The table comes from migration 0002 (``dl_model_decisions``). Rows are only ever
inserted, never updated: the audit trail says what happened, in order. Benchmark results
(``dl_benchmarks``, same migration) are stored by :mod:`driftline.lifecycle.benchmark`;
a decision refers to one by its id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

import pandas as pd
import sqlalchemy as sa

from driftline.config.times import utc, utc_now
from driftline.data.store import Store

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
    conn: sa.Connection | None = None,
) -> int:
    """Append one decision to the audit trail; returns its id. With ``conn`` the row is
    written in the caller's transaction (e.g. together with the decision's alert)."""
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
        "created_at": utc_now(),
    }
    if conn is not None:
        return int(conn.execute(table.insert().values(**values)).inserted_primary_key[0])
    with store.engine.begin() as own:
        return int(own.execute(table.insert().values(**values)).inserted_primary_key[0])


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


#: Outcomes after which ``champion_after`` holds the champion alias (the alias moved).
TAKEOVER_OUTCOMES = ("promoted", "rolled_back")


class Takeover(NamedTuple):
    """A champion taking over: when, which version, and whether it was adopted (a model
    that already served before driftline knew it) rather than promoted or restored."""

    when: pd.Timestamp
    version: str
    adopted: bool = False


def champion_takeovers(store: Store, model: str) -> list[Takeover]:
    """When each champion of ``model`` took over, oldest first: every promotion, adoption
    and rollback that moved the alias. Rejections and failed moves left the champion as it
    was and are not listed. Alias moves made outside driftline (e.g. in the MLflow UI) are
    not in the audit trail, so not here either."""
    table = store.table(DECISIONS_TABLE)
    query = (
        sa.select(table.c.created_at, table.c.champion_after, table.c.action)
        .where(
            table.c.model == model,
            table.c.outcome.in_(TAKEOVER_OUTCOMES),
            table.c.champion_after.is_not(None),
        )
        .order_by(table.c.created_at, table.c.id)
    )
    with store.engine.connect() as conn:
        return [
            Takeover(utc(r.created_at), str(r.champion_after), r.action == "adopt")
            for r in conn.execute(query)
        ]
