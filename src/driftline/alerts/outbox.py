"""The alerts outbox: write first, send after, mark sent only on success.

:func:`enqueue` renders an alert for each channel of the model's spec and commits one
row per channel *before* anything is sent, so a crash, a timeout or a Slack outage
cannot lose it. :func:`flush` sends the due rows (oldest first) and records what
happened; a row stays ``pending`` (with attempts, last error and next attempt time)
until a send succeeds or the channel refuses it for good. :func:`notify` does both.

Delivery is exactly once when the store connection is lost after Slack accepted a
message: the acceptance is first written to the local delivery journal
(:mod:`driftline.alerts.journal`, when the destinations name one, as they do when built
from settings), and the next flush marks the row sent from it without sending it again.
If the process dies between the endpoint's answer and the journal line, the next flush
sends it again (at least once). Concurrent flushes do not send the same row at the same
time: each row is claimed with a lease first.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
import sqlalchemy as sa

from driftline.alerts.channels import CHANNELS, MAX_RETRY_AFTER, SendResult
from driftline.alerts.delivery import (
    Deadline,
    DeliveryPolicy,
    Destinations,
    http_client,
    missing_url_message,
    send_message,
)
from driftline.alerts.journal import Delivered, Journal, store_key
from driftline.alerts.message import POLICY_SEVERITY, Alert, Severity
from driftline.config.errors import AlertError, StoreError
from driftline.config.faults import checkpoint
from driftline.config.secrets import redact, scrub
from driftline.config.times import utc_datetime, utc_now
from driftline.data.store import Store
from driftline.specs import AlertsSection

log = logging.getLogger(__name__)

OUTBOX_TABLE = "dl_alert_outbox"
Status = Literal["pending", "sent", "failed", "suppressed"]
STATUSES: tuple[Status, ...] = ("pending", "sent", "failed", "suppressed")
_LEASE_MARGIN = timedelta(seconds=30)


@dataclass(frozen=True)
class OutboxEntry:
    """One alert on one channel, as stored."""

    id: int
    alert_id: str
    model: str
    kind: str
    severity: str
    dedupe_key: str
    channel: str
    title: str
    status: Status
    attempts: int
    last_error: str | None
    note: str | None
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    body: str = field(repr=False, default="")

    def payload(self) -> Any:
        """The JSON body that is (or was) POSTed for this entry."""
        return json.loads(self.body)


@dataclass(frozen=True)
class EnqueueResult:
    """What :func:`enqueue` recorded: one entry per channel, or why nothing was."""

    alert_id: str
    entries: list[OutboxEntry]
    skipped: str | None = None

    @property
    def pending(self) -> list[OutboxEntry]:
        return [e for e in self.entries if e.status == "pending"]

    @property
    def suppressed(self) -> list[OutboxEntry]:
        return [e for e in self.entries if e.status == "suppressed"]


@dataclass(frozen=True)
class Delivery:
    """What one flush did with one outbox row."""

    entry_id: int
    channel: str
    outcome: Literal["sent", "retry", "failed", "not_attempted"]
    error: str = ""
    tries: int = 0


@dataclass(frozen=True)
class FlushResult:
    """What one flush did, and the outbox's counts by status afterwards."""

    deliveries: list[Delivery]
    totals: dict[str, int]
    recorded_from_journal: list[int] = field(default_factory=list)
    """Rows delivered by an earlier flush that lost the store before recording them, now
    marked sent from the delivery journal (not sent again)."""

    def _count(self, outcome: str) -> int:
        return sum(1 for d in self.deliveries if d.outcome == outcome)

    @property
    def sent(self) -> int:
        """Rows sent by this flush."""
        return self._count("sent")

    @property
    def failed(self) -> int:
        """Rows this flush marked failed (permanent refusals)."""
        return self._count("failed")

    @property
    def retry_later(self) -> int:
        """Rows tried by this flush without success, left pending for a later one."""
        return self._count("retry")

    @property
    def not_attempted(self) -> int:
        """Due rows this flush did not try (no URL, channel blocked, time budget)."""
        return self._count("not_attempted")

    @property
    def pending(self) -> int:
        """Rows pending in the whole outbox after this flush."""
        return self.totals.get("pending", 0)


@dataclass(frozen=True)
class NotifyResult:
    """An alert recorded and a flush run right after."""

    enqueued: EnqueueResult
    flushed: FlushResult

    def status_of(self, channel: str) -> Status | None:
        """This alert's status on ``channel`` after the flush (None if not recorded)."""
        entry = next((e for e in self.enqueued.entries if e.channel == channel), None)
        if entry is None:
            return None
        for delivery in self.flushed.deliveries:
            if delivery.entry_id == entry.id and delivery.outcome in ("sent", "failed"):
                return "sent" if delivery.outcome == "sent" else "failed"
        return entry.status


def _table(store: Store) -> sa.Table:
    try:
        return store.table(OUTBOX_TABLE)
    except sa.exc.NoSuchTableError:
        raise AlertError(
            f"the store has no {OUTBOX_TABLE} table: run `driftline db upgrade`"
        ) from None


def _entry(row: Any) -> OutboxEntry:
    return OutboxEntry(
        id=int(row.id),
        alert_id=row.alert_id,
        model=row.model,
        kind=row.kind,
        severity=row.severity,
        dedupe_key=row.dedupe_key,
        channel=row.channel,
        title=row.title,
        status=row.status,
        attempts=int(row.attempts),
        last_error=row.last_error,
        note=row.note,
        created_at=utc_datetime(row.created_at),
        next_attempt_at=utc_datetime(row.next_attempt_at),
        sent_at=utc_datetime(row.sent_at) if row.sent_at is not None else None,
        body=row.body,
    )


def render(alert: Alert, channel: str, config: AlertsSection) -> str:
    """The JSON body of ``alert`` for ``channel``, as the channel renders it (Block Kit
    for Slack, the alert as JSON for the generic webhook). SpecError for an unknown one."""
    payload = CHANNELS.get(channel).render(alert, config)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def skip_reason(alert: Alert, config: AlertsSection) -> str | None:
    """Why ``alert`` is not an alert under ``config`` (None when it should be recorded)."""
    if not config.enabled:
        return f"alerts are disabled for model {alert.model} (alerts.enabled: false)"
    if not config.channels:
        return f"model {alert.model} has no alert channels (alerts.channels is empty)"
    minimum = Severity(config.min_severity)
    if alert.is_finding and alert.severity.rank < minimum.rank:
        policy = " or ".join(k for k, v in POLICY_SEVERITY.items() if v == alert.severity.value)
        return (
            f"{alert.kind} finding of alert severity {alert.severity.value} (the policy's "
            f"{policy}) is below the spec's min_severity {minimum.value}"
        )
    return None


def enqueue(
    store: Store,
    alert: Alert,
    config: AlertsSection | None = None,
    *,
    now: datetime | None = None,
) -> EnqueueResult:
    """Record ``alert`` in the outbox, one row per channel of ``config``, and commit.

    Findings below ``config.min_severity`` are not recorded (``skipped`` says why).
    A repeat of the same ``dedupe_key`` on a channel within the cooldown of the last
    pending or sent one, at the same or a lower severity, is recorded as
    ``suppressed``; a higher severity (escalation) is recorded as ``pending``.
    The cooldown is measured on ``alert.created_at``; ``now`` (default: the clock)
    is when the rows become due. Recording the same alert (same ``alert_id``) again,
    e.g. from a retried task, returns the rows of the first time and adds none.
    """
    config = config or AlertsSection()
    reason = skip_reason(alert, config)
    if reason is not None:
        log.info("alert %s for %s not recorded: %s", alert.kind, alert.model, reason)
        return EnqueueResult(alert.alert_id, [], reason)
    table = _table(store)
    ids: list[int] = []
    try:
        with store.engine.begin() as conn:
            ids = record(conn, store, alert, config, now=now)
    except sa.exc.IntegrityError:  # recorded concurrently by another run: use those rows
        with store.engine.connect() as conn:
            ids = [
                int(i)
                for i in conn.execute(
                    sa.select(table.c.id).where(table.c.alert_id == alert.alert_id)
                ).scalars()
            ]
    entries = _select(store, table.c.id.in_(ids))
    for entry in entries:
        log.info(
            "alert %s (%s, %s, %s) recorded for %s as %s",
            entry.id,
            entry.model,
            entry.kind,
            entry.severity,
            entry.channel,
            entry.status,
        )
    return EnqueueResult(alert.alert_id, entries)


def record(
    conn: sa.Connection,
    store: Store,
    alert: Alert,
    config: AlertsSection | None = None,
    *,
    now: datetime | None = None,
) -> list[int]:
    """Insert ``alert``'s rows (as :func:`enqueue` does) within the caller's transaction
    ``conn``, so that they commit or roll back with what the alert is about (e.g. the
    audit row of a promotion). Returns the rows' ids (the first rows when the same
    ``alert_id`` was recorded before; none when :func:`skip_reason` says it is no alert).
    """
    config = config or AlertsSection()
    if skip_reason(alert, config) is not None:
        return []
    table = _table(store)
    now = utc_datetime(now) if now is not None else utc_now()
    already = conn.execute(sa.select(table.c.id).where(table.c.alert_id == alert.alert_id))
    ids = [int(i) for i in already.scalars()]
    if ids:
        return ids
    bodies: dict[str, str] = {c: render(alert, c, config) for c in config.channels}
    return _insert(conn, table, alert, bodies, config, now)


def _insert(
    conn: sa.Connection,
    table: sa.Table,
    alert: Alert,
    bodies: Mapping[str, str],
    config: AlertsSection,
    now: datetime,
) -> list[int]:
    """Insert one row per channel, suppressing repeats within the cooldown; new ids."""
    raised = alert.created_at
    cooldown = timedelta(minutes=config.cooldown_minutes)
    ids: list[int] = []
    for channel, body in bodies.items():
        status: Status = "pending"
        note = None
        if cooldown > timedelta(0):
            last = conn.execute(
                sa.select(table.c.id, table.c.severity, table.c.created_at)
                .where(
                    table.c.dedupe_key == alert.dedupe_key,
                    table.c.channel == channel,
                    table.c.status.in_(("pending", "sent")),
                    table.c.created_at > raised - cooldown,
                    table.c.created_at <= raised,
                )
                .order_by(table.c.created_at.desc(), table.c.id.desc())
                .limit(1)
            ).first()
            if last is not None and alert.severity.rank <= Severity(last.severity).rank:
                status = "suppressed"
                note = (
                    f"repeat of outbox #{last.id} ({last.severity}, "
                    f"{utc_datetime(last.created_at):%Y-%m-%d %H:%M} UTC) within the "
                    f"{config.cooldown_minutes}-minute cooldown"
                )
        inserted = conn.execute(
            table.insert().values(
                alert_id=alert.alert_id,
                model=alert.model,
                kind=alert.kind,
                severity=alert.severity.value,
                dedupe_key=alert.dedupe_key,
                channel=channel,
                title=alert.title,
                body=body,
                status=status,
                attempts=0,
                note=note,
                created_at=raised,
                next_attempt_at=now,
                updated_at=now,
            )
        )
        key = inserted.inserted_primary_key
        if key is None:  # every supported database returns the new id
            raise AlertError(f"the store did not return the id of the new {OUTBOX_TABLE} row")
        ids.append(int(key[0]))
    return ids


def recorded(store: Store, alert_id: str) -> EnqueueResult:
    """The rows recorded for ``alert_id`` (e.g. by :func:`record` in another transaction)."""
    return EnqueueResult(alert_id, _select(store, _table(store).c.alert_id == alert_id))


def _select(store: Store, *where: Any, limit: int | None = None) -> list[OutboxEntry]:
    table = _table(store)
    query = sa.select(table).where(*where).order_by(table.c.created_at, table.c.id)
    if limit is not None:
        query = query.limit(limit)
    with store.engine.connect() as conn:
        return [_entry(row) for row in conn.execute(query)]


def list_entries(
    store: Store,
    *,
    status: Status | None = None,
    model: str | None = None,
    limit: int = 50,
) -> list[OutboxEntry]:
    """The most recent ``limit`` outbox rows (optionally of one status/model), oldest first."""
    table = _table(store)
    where = []
    if status is not None:
        where.append(table.c.status == status)
    if model is not None:
        where.append(table.c.model == model)
    query = (
        sa.select(table)
        .where(*where)
        .order_by(table.c.created_at.desc(), table.c.id.desc())
        .limit(limit)
    )
    with store.engine.connect() as conn:
        rows = [_entry(row) for row in conn.execute(query)]
    return rows[::-1]


def counts(store: Store, *, model: str | None = None) -> dict[str, int]:
    """Outbox rows by status (every status present, zero when none)."""
    table = _table(store)
    query = sa.select(table.c.status, sa.func.count()).group_by(table.c.status)
    if model is not None:
        query = query.where(table.c.model == model)
    with store.engine.connect() as conn:
        found = {status: int(n) for status, n in conn.execute(query)}
    return {status: found.get(status, 0) for status in STATUSES}


def requeue_failed(store: Store, *, model: str | None = None) -> int:
    """Make failed rows pending again (e.g. after fixing a revoked webhook URL)."""
    table = _table(store)
    now = utc_now()
    query = (
        table.update()
        .where(table.c.status == "failed")
        .values(status="pending", next_attempt_at=now, claimed_until=None, updated_at=now)
    )
    if model is not None:
        query = query.where(table.c.model == model)
    with store.engine.begin() as conn:
        return int(conn.execute(query).rowcount)


def _claim(store: Store, table: sa.Table, entry_id: int, now: datetime, until: datetime) -> bool:
    """Take a lease on a pending row; False when another flush holds it or it is done."""
    with store.engine.begin() as conn:
        claimed = conn.execute(
            table.update()
            .where(
                table.c.id == entry_id,
                table.c.status == "pending",
                sa.or_(table.c.claimed_until.is_(None), table.c.claimed_until <= now),
            )
            .values(claimed_until=until, updated_at=now)
        ).rowcount
    return claimed == 1


def _record(
    store: Store,
    table: sa.Table,
    entry: OutboxEntry,
    result: SendResult,
    policy: DeliveryPolicy,
    now: datetime,
) -> None:
    attempts = entry.attempts + result.tries
    values: dict[str, Any] = {"attempts": attempts, "claimed_until": None, "updated_at": now}
    if result.outcome == "sent":
        values.update(status="sent", sent_at=utc_now(), last_error=None)
    elif result.outcome == "failed":
        values.update(status="failed", last_error=result.error)
    else:
        delay = max(result.retry_after or 0.0, policy.retry_later(max(attempts, 1)))
        delay = min(delay, max(policy.retry_later_max, MAX_RETRY_AFTER))  # never parked for long
        values.update(
            last_error=scrub(result.error), next_attempt_at=now + timedelta(seconds=delay)
        )
    if result.outcome == "failed":
        values["last_error"] = scrub(result.error)
    with store.engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == entry.id).values(**values))


def _note_not_attempted(store: Store, table: sa.Table, ids: list[int], reason: str) -> None:
    if ids:
        with store.engine.begin() as conn:
            conn.execute(table.update().where(table.c.id.in_(ids)).values(last_error=scrub(reason)))


def flush(
    store: Store,
    destinations: Destinations,
    policy: DeliveryPolicy | None = None,
    *,
    now: datetime | None = None,
    include_not_due: bool = False,
    alert_id: str | None = None,
    model: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    client: httpx.Client | None = None,
) -> FlushResult:
    """Send every due pending row (oldest first) within the policy's time budget.

    A row is due when its next attempt time has come (``include_not_due`` sends those
    waiting out a backoff too) and no other flush holds its lease. Success marks it
    sent; a permanent refusal marks it failed with the reason; anything else leaves it
    pending with the error and a later next attempt time. A channel whose URL is
    missing, dead (401/403/404/410) or still failing after retries is skipped for the
    rest of the flush, so its other rows wait for the next run instead of the budget.

    With a delivery journal (``destinations.journal``), rows an earlier flush delivered
    but could not record are marked sent first, without sending them again
    (``recorded_from_journal``). StoreError when the store is lost while recording a
    result: it names the alert, whether it was delivered, and what the next flush does.
    """
    policy = policy or DeliveryPolicy()
    table = _table(store)
    journal = _journal(store, destinations)
    reconciled = _reconcile(store, table, journal) if journal is not None else []
    now = utc_datetime(now) if now is not None else utc_now()
    deadline = Deadline(policy.max_flush_seconds)
    where = [
        table.c.status == "pending",
        sa.or_(table.c.claimed_until.is_(None), table.c.claimed_until <= now),
    ]
    if not include_not_due:
        where.append(table.c.next_attempt_at <= now)
    if alert_id is not None:
        where.append(table.c.alert_id == alert_id)
    if model is not None:
        where.append(table.c.model == model)
    due = _select(store, *where, limit=policy.batch_size)
    lease_until = now + timedelta(seconds=policy.max_flush_seconds) + _LEASE_MARGIN
    lease_until += timedelta(seconds=policy.request_timeout)
    blocked: dict[str, str] = {}
    skipped: dict[str, list[int]] = {}
    deliveries: list[Delivery] = []
    own_client = client is None
    http = client or http_client()
    try:
        for entry in due:
            url = destinations.url(entry.channel)
            if url is None:
                reason = destinations.problem(entry.channel) or missing_url_message(entry.channel)
            elif entry.channel in blocked:
                reason = blocked[entry.channel]
            elif deadline.expired():
                reason = "not tried: the flush's time budget ran out"
            else:
                reason = ""
            if url is None or reason:
                if not deadline.expired():  # keep the last real error when time ran out
                    skipped.setdefault(reason, []).append(entry.id)
                deliveries.append(Delivery(entry.id, entry.channel, "not_attempted", reason))
                continue
            if not _claim(store, table, entry.id, now, lease_until):
                continue
            try:
                result = send_message(
                    http, entry.channel, url, entry.body, policy, deadline, sleep=sleep
                )
            except Exception as exc:  # one bad row must never stop the rows after it
                log.exception("alert %s: sending raised", entry.id)
                result = SendResult("retry", f"sending raised {type(exc).__name__}: {exc}")
            delivered = Delivered(entry.id, entry.alert_id, entry.channel)
            if result.outcome == "sent" and journal is not None:
                journal.append(delivered)
            try:
                checkpoint("alerts:delivered")
                _record(store, table, entry, result, policy, now)
            except sa.exc.DBAPIError as exc:
                raise _unrecorded(entry, result, journal, exc) from None
            if result.outcome == "sent" and journal is not None:
                journal.drop([delivered])
            deliveries.append(
                Delivery(entry.id, entry.channel, result.outcome, result.error, result.tries)
            )
            _log_result(entry, result)
            if result.outcome == "retry" or result.dead_url:
                blocked[entry.channel] = (
                    f"not tried: {entry.channel} failed earlier in this flush ({result.error})"
                )
    finally:
        if own_client:
            http.close()
    for reason, ids in skipped.items():
        _note_not_attempted(store, table, ids, reason)
    return FlushResult(deliveries, counts(store), reconciled)


def _journal(store: Store, destinations: Destinations) -> Journal | None:
    if destinations.journal is None:
        return None
    url = store.engine.url.render_as_string(hide_password=True)
    return Journal(destinations.journal, store_key(url))


def _reconcile(store: Store, table: sa.Table, journal: Journal) -> list[int]:
    """Mark sent the pending rows the journal says were delivered; drop those lines.
    The outbox row ids recorded."""
    delivered = journal.pending()
    if not delivered:
        return []
    now = utc_now()
    recorded: list[int] = []
    with store.engine.begin() as conn:
        for d in delivered:
            done = conn.execute(
                table.update()
                .where(
                    table.c.id == d.id,
                    table.c.alert_id == d.alert_id,
                    table.c.channel == d.channel,
                    table.c.status == "pending",
                )
                .values(
                    status="sent", sent_at=now, claimed_until=None, last_error=None, updated_at=now
                )
            ).rowcount
            if done:
                recorded.append(d.id)
                log.info(
                    "alert %s to %s: delivered earlier, recorded from the journal", d.id, d.channel
                )
    journal.drop(delivered)
    return recorded


def _unrecorded(
    entry: OutboxEntry, result: SendResult, journal: Journal | None, exc: Exception
) -> StoreError:
    what = f"alert {entry.id} ({entry.model}, {entry.kind}) to {entry.channel}"
    lost = f"the connection to the store was lost ({type(getattr(exc, 'orig', exc)).__name__})"
    if result.outcome != "sent":
        return StoreError(
            f"{what} was not delivered ({result.outcome}), and {lost} before that was "
            "recorded: it stays pending and the next `driftline alerts flush` tries it again."
        )
    if journal is not None:
        return StoreError(
            f"{what} was delivered, but {lost} before it was recorded as sent. It is in the "
            f"delivery journal ({journal.path}): the next `driftline alerts flush` records "
            "it as sent without sending it again."
        )
    return StoreError(
        f"{what} was delivered, but {lost} before it was recorded as sent; with no "
        "delivery journal the next flush sends it again."
    )


def _log_result(entry: OutboxEntry, result: SendResult) -> None:
    what = f"alert {entry.id} ({entry.model}, {entry.kind}) to {entry.channel}"
    if result.outcome == "sent":
        log.info("%s: sent after %d tries", what, result.tries)
    elif result.outcome == "failed":
        log.warning("%s: failed for good: %s", what, redact(result.error))
    else:
        log.warning("%s: not sent yet (%s); left pending", what, redact(result.error))


def notify(
    store: Store,
    alert: Alert,
    config: AlertsSection | None,
    destinations: Destinations,
    policy: DeliveryPolicy | None = None,
    *,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> NotifyResult:
    """Record ``alert`` (committed) and then flush every due row, this one included.

    The one call a flow makes. Sending problems never raise: they are in the result
    and in the outbox for the next run or ``driftline alerts flush``.
    """
    enqueued = enqueue(store, alert, config, now=now)
    flushed = flush(store, destinations, policy, now=now, sleep=sleep)
    return NotifyResult(enqueued, flushed)
