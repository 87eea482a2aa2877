"""A store connection lost mid-operation: each operation completes or keeps nothing, and
says what happened.

The connection is lost at a fault point (:func:`driftline.config.faults.inject`): on
PostgreSQL the server terminates the store's sessions (``pg_terminate_backend`` from a
second connection), so the operation's next statement fails as it would in production;
on SQLite the next statement raises the ``OperationalError`` a lost database raises.
Covered: a monitor run after its reports and snapshots were published (nothing of the
run is kept), ``alerts flush`` after the receiver accepted a message (recorded by the
next flush, never sent twice) and ``promote`` after the champion alias moved (the re-run
completes the audit record and the one alert).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from driftline.alerts.delivery import Destinations
from driftline.alerts.lifecycle import retrain_started_alert
from driftline.alerts.outbox import enqueue, flush, list_entries
from driftline.config.errors import StoreError
from driftline.config.faults import inject
from driftline.data import ingest
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.devtools.receiver import LocalReceiver
from driftline.monitoring.monitor import run_monitor
from driftline.ops.dashboards import open_workspace
from tests.conftest import Cli
from tests.simdata import baseline_from, scenario

from .test_lifecycle_failures import START, change_with_labels, drifting  # noqa: F401
from .test_promotion_faults import World, _cli, assert_promoted_once, world  # noqa: F401


def connection_loser(store: Store) -> Callable[[], None]:
    """An action that loses ``store``'s connection: PostgreSQL terminates every session the
    store has opened (the pool reconnects afterwards); SQLite fails the next statement."""
    engine = store.engine
    if engine.dialect.name == "postgresql":
        pids: set[int] = set()
        sa.event.listen(engine, "checkout", lambda dbapi, *_: pids.add(dbapi.info.backend_pid))

        def terminate() -> None:
            admin = sa.create_engine(engine.url)
            with admin.begin() as conn:
                for pid in pids:
                    conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            admin.dispose()

        return terminate

    def fail_next() -> None:
        def lost(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
            sa.event.remove(engine, "before_cursor_execute", lost)
            raise sa.exc.OperationalError(statement, {}, sqlite3.OperationalError("disk I/O error"))

        sa.event.listen(engine, "before_cursor_execute", lost)

    return fail_next


def test_a_monitor_run_that_loses_the_store_keeps_no_report_or_snapshot(
    store: Store,
    tmp_path: Path,
    change_with_labels: None,  # noqa: F811
) -> None:
    spec = drifting(tmp_path)
    sim = scenario("channel_shift")
    ingest.log_predictions(store, spec, sim.predictions, Pseudonymizer(b"k" * 32))
    reports, workspace = tmp_path / "reports", tmp_path / "workspace"
    end = START + timedelta(days=9)

    def monitor():  # type: ignore[no-untyped-def]
        return run_monitor(
            store, spec, baseline_from(sim, spec), end, reports_dir=reports, workspace_dir=workspace
        )

    with inject("monitor:published", connection_loser(store)):
        run = monitor()
    assert run.status == "failed" and run.report_paths == () and run.snapshot_ids == ()
    assert "the monitor run of purchase_propensity for 2026-09-09 00:00 to 2026-09-10" in (
        run.error or ""
    )
    assert "connection to the store was lost" in (run.error or "")
    assert "nothing of the run was kept" in (run.error or "")
    assert not list(reports.rglob("*.html"))
    ws = open_workspace(workspace)
    (project,) = ws.search_project(spec.name)
    assert list(ws.list_runs(project.id)) == []
    with store.engine.connect() as conn:  # at most the failure, never a run with reports
        stored = conn.execute(sa.text("SELECT report_path FROM dl_monitor_runs")).all()
    assert [tuple(r) for r in stored] in ([], [(None,)])

    again = monitor()  # what the message says to do
    assert again.status != "failed" and again.report_paths and again.snapshot_ids
    assert len(list(ws.list_runs(project.id))) == len(again.snapshot_ids)


def test_a_flush_that_loses_the_store_after_delivery_never_sends_twice(
    store: Store, tmp_path: Path
) -> None:
    journal = tmp_path / "home" / "alerts" / "delivered.jsonl"
    with LocalReceiver() as rx:
        to = Destinations({"slack": SecretStr(rx.url)}, journal=journal)
        for reason in ("drift", "manual"):
            enqueue(store, retrain_started_alert("purchase_propensity", reason=reason))
        with (
            inject("alerts:delivered", connection_loser(store)),
            pytest.raises(StoreError) as err,
        ):
            flush(store, to, sleep=lambda _: None)
        first = min(e.id for e in list_entries(store))
        assert f"alert {first} (purchase_propensity, retrain_started) to slack was delivered" in (
            str(err.value)
        )
        assert "records it as sent without sending it again" in str(err.value)
        assert len(rx.payloads()) == 1
        assert [e.status for e in list_entries(store)] == ["pending", "pending"]

        result = flush(store, to, sleep=lambda _: None)
        assert result.recorded_from_journal == [first]
        assert [(d.entry_id, d.outcome) for d in result.deliveries] == [(first + 1, "sent")]
        assert len(rx.payloads()) == 2  # the first alert was not sent again
        assert {e.status for e in list_entries(store)} == {"sent"}
        assert journal.read_text() == ""  # every line recorded and dropped
        assert flush(store, to, sleep=lambda _: None).deliveries == []


def test_a_promotion_that_loses_the_store_after_the_alias_moved_is_completed_by_a_rerun(
    world: tuple[World, LocalReceiver],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    from driftline.lifecycle.promotion import promote
    from driftline.lifecycle.registry import CHAMPION

    w, rx = world
    spec = w.model("lost_store")
    with (
        inject("promotion:champion", connection_loser(w.store)),
        pytest.raises(StoreError) as err,
    ):
        promote(w.store, w.registry, spec, triggered_by="test")
    assert "lost_store: v2 is champion in the registry" in str(err.value)
    assert "run `driftline promote --model lost_store` again" in str(err.value)
    assert w.registry.aliases(spec)[CHAMPION] == "2"
    assert rx.payloads() == []
    assert _cli("promote", "--model", spec.name) == 0, capsys.readouterr()
    assert_promoted_once(w, spec, rx)


def test_alerts_flush_says_what_was_delivered_and_the_next_one_records_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    """The command: exit 2 naming the delivered alert, then a flush that records it."""
    home = tmp_path / "home"
    monkeypatch.setenv("DRIFTLINE_HOME", str(home))
    monkeypatch.setenv("DRIFTLINE_DATABASE_URL", f"sqlite:///{tmp_path / 'driftline.db'}")
    store = Store(f"sqlite:///{tmp_path / 'driftline.db'}")
    (entry,) = enqueue(store, retrain_started_alert("purchase_propensity", reason="drift")).entries
    store.dispose()

    def fail_next_statement() -> None:  # whichever engine the command opened
        def lost(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
            sa.event.remove(sa.engine.Engine, "before_cursor_execute", lost)
            raise sa.exc.OperationalError(statement, {}, sqlite3.OperationalError("disk I/O error"))

        sa.event.listen(sa.engine.Engine, "before_cursor_execute", lost)

    with LocalReceiver() as rx:
        monkeypatch.setenv("DRIFTLINE_SLACK_WEBHOOK_URL", rx.url)
        with inject("alerts:delivered", fail_next_statement):
            code, out = cli("alerts", "flush")
        assert code == 2 and "Traceback" not in out, out
        assert f"alert {entry.id} (purchase_propensity, retrain_started) to slack was" in out
        assert "without sending it again" in out and str(home / "alerts") in out
        code, out = cli("alerts", "flush")
        assert code == 0, out
        assert f"#{entry.id} was delivered by an earlier flush" in out
        assert len(rx.payloads()) == 1
