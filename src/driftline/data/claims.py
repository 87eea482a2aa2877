"""Claims: exactly one owner for a thing that must happen once, decided by the database.

Prefect delivers events at least once, people run a command twice, two workers pick up
the same schedule: whatever must happen once per window, per monitor run or per
promotion is *claimed* first. ``dl_claims`` (migration ``0005_claims``) has a unique
constraint on ``(model, claim_key)``, so of any number of processes inserting the same
key at the same time exactly one succeeds, on SQLite and PostgreSQL alike, whatever the
interleaving; the others read the row and learn who holds it. No in-process lock is
involved, so this holds across threads, processes and machines.

A claim's ``state`` is ``claimed`` (someone is at it), ``done`` (``result`` says what came
of it), ``failed`` (a later attempt may take it over) or ``abandoned``. A ``claimed`` row
whose lease (``claimed_until``) has run out was left by a process that died, and is taken
over too. Every change of state is a conditional UPDATE (``WHERE state = ...``), so two
processes can never both move a claim on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa

from driftline.config.times import utc_datetime, utc_now
from driftline.data.store import Store

CLAIMS_TABLE = "dl_claims"
ClaimState = Literal["claimed", "done", "failed", "abandoned"]


@dataclass(frozen=True)
class Claim:
    """One claim as stored, and whether the caller that asked for it holds it (``won``)."""

    id: int
    model: str
    key: str
    state: ClaimState
    owner: str
    result: str | None
    created_at: datetime
    updated_at: datetime
    claimed_until: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    won: bool = False

    def describe(self) -> str:
        """Who holds it and what came of it, in words (for "already handled" messages)."""
        since = f"{self.created_at:%Y-%m-%d %H:%M} UTC"
        if self.state == "done":
            return f"{self.owner} handled it ({self.result or 'done'}, {since})"
        if self.state == "claimed":
            return f"{self.owner} has been handling it since {since}"
        return f"{self.owner} {self.state} ({self.result or 'no detail'}, {since})"


def _table(store: Store) -> sa.Table:
    return store.table(CLAIMS_TABLE)


def _claim(row: Any, *, won: bool = False) -> Claim:
    return Claim(
        id=int(row.id),
        model=row.model,
        key=row.claim_key,
        state=row.state,
        owner=row.owner,
        result=row.result,
        created_at=utc_datetime(row.created_at),
        updated_at=utc_datetime(row.updated_at),
        claimed_until=utc_datetime(row.claimed_until) if row.claimed_until is not None else None,
        detail=json.loads(row.detail_json) if row.detail_json else {},
        won=won,
    )


def find(store: Store, model: str, key: str) -> Claim | None:
    """The claim of ``key`` for ``model``, or None."""
    table = _table(store)
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(table).where(table.c.model == model, table.c.claim_key == key)
        ).first()
    return _claim(row) if row is not None else None


def claims(store: Store, model: str, *, prefix: str = "", state: str | None = None) -> list[Claim]:
    """Claims of ``model`` whose key starts with ``prefix`` (optionally in one state),
    oldest first."""
    table = _table(store)
    query = sa.select(table).where(table.c.model == model)
    if prefix:
        query = query.where(table.c.claim_key.startswith(prefix, autoescape=True))
    if state is not None:
        query = query.where(table.c.state == state)
    with store.engine.connect() as conn:
        return [_claim(r) for r in conn.execute(query.order_by(table.c.id))]


def claim(
    store: Store,
    model: str,
    key: str,
    owner: str,
    *,
    detail: dict[str, Any] | None = None,
    lease: timedelta | None = None,
    now: datetime | None = None,
) -> Claim:
    """Claim ``key`` for ``model`` on behalf of ``owner`` (who, in words: "monitor run",
    "flow run retrain-model/brave-fox"). Returns the claim with ``won`` True when the
    caller holds it now: it inserted the row, or took over one that ``failed`` or whose
    ``lease`` ran out (a holder that died). Otherwise ``won`` is False and the claim says
    who holds it. ``detail`` is JSON kept with the claim (e.g. a gate report)."""
    table = _table(store)
    now = utc_datetime(now) if now is not None else utc_now()
    until = now + lease if lease is not None else None
    values = {
        "model": model,
        "claim_key": key,
        "state": "claimed",
        "owner": owner[:200],
        "result": None,
        "detail_json": json.dumps(detail, default=str) if detail is not None else None,
        "claimed_until": until,
        "created_at": now,
        "updated_at": now,
    }
    try:
        with store.engine.begin() as conn:
            conn.execute(table.insert().values(**values))
    except sa.exc.IntegrityError:
        found = find(store, model, key)
        if found is None:  # deleted in between: try once more
            return claim(store, model, key, owner, detail=detail, lease=lease, now=now)
        stale = found.state == "claimed" and (
            found.claimed_until is not None and found.claimed_until <= now
        )
        if found.state != "failed" and not stale:
            return found
        taken = _update(
            store,
            found,
            (found.state,),
            owner=values["owner"],
            state="claimed",
            result=None,
            detail_json=values["detail_json"] or (json.dumps(found.detail) or None),
            claimed_until=until,
            created_at=now,
            updated_at=now,
        )
        if not taken:  # someone else took it over first
            return find(store, model, key) or found
    found = find(store, model, key)
    if found is None:
        raise sa.exc.InvalidRequestError(f"the claim {key!r} of {model} vanished")
    return replace(found, won=True)


def settle(
    store: Store,
    held: Claim,
    state: ClaimState,
    result: str,
    *,
    detail: dict[str, Any] | None = None,
    conn: sa.Connection | None = None,
) -> bool:
    """Move a claim the caller holds (state ``claimed``) to ``state`` with ``result``;
    False when it is no longer ``claimed`` (another process settled it first). With
    ``conn`` the update joins that transaction (e.g. the audit row of a promotion)."""
    values: dict[str, Any] = {"state": state, "result": result, "updated_at": utc_now()}
    if detail is not None:
        values["detail_json"] = json.dumps(detail, default=str)
    return _update(store, held, ("claimed",), conn=conn, **values)


def reopen(store: Store, held: Claim, owner: str, *, detail: dict[str, Any] | None) -> bool:
    """Make a ``done`` or ``abandoned`` claim ``claimed`` again by ``owner`` (the same
    thing is to happen again, e.g. a version promoted over the same champion a second
    time after a rollback); False when it changed in between."""
    now = utc_now()
    return _update(
        store,
        held,
        ("done", "abandoned"),
        owner=owner[:200],
        state="claimed",
        result=None,
        detail_json=json.dumps(detail, default=str) if detail is not None else None,
        claimed_until=None,
        created_at=now,
        updated_at=now,
    )


def _update(
    store: Store,
    held: Claim,
    states: tuple[str, ...],
    *,
    conn: sa.Connection | None = None,
    **values: Any,
) -> bool:
    table = _table(store)
    query = (
        table.update()
        .where(
            table.c.id == held.id,
            table.c.state.in_(states),
            table.c.updated_at == held.updated_at,
        )
        .values(**values)
    )
    if conn is not None:
        return conn.execute(query).rowcount == 1
    with store.engine.begin() as own:
        return own.execute(query).rowcount == 1
