"""What the policy reads from the store (driftline.monitoring.evidence): acknowledged drift
from a rejection after a drift retrain, and when a champion's grace began."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from driftline.data.store import Store
from driftline.lifecycle import audit
from driftline.monitoring.evidence import acknowledged_drift, champion_since
from driftline.monitoring.policy import ESTIMATED_DROP, LASTING_ESTIMATED_DROP, Decision
from driftline.monitoring.runs import list_runs, record_run

END = datetime(2026, 9, 20, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'evidence.db'}")


def _run(store: Store, end: datetime, action: str = "alert", **decided: object) -> int:
    decision = Decision(action=action, severity="high", status="drift", reasons=("r",), **decided)  # type: ignore[arg-type]
    return record_run(
        store, model="m", window_start=end - DAY, window_end=end, decision=decision,
        champion_version="1",
    )  # fmt: skip


def _rejected(store: Store, *failed: str) -> None:
    gates = [{"name": n, "status": "failed"} for n in failed] + [
        {"name": "floor", "status": "passed"}
    ]
    audit.record_decision(
        store, model="m", action="promote", outcome="rejected", triggered_by="test",
        reason="rejected", challenger_version="2", champion_before="1", champion_after="1",
        gate_report={"gates": gates},
    )  # fmt: skip


def test_a_drift_retrain_rejected_as_no_better_acknowledges_its_columns(store: Store) -> None:
    _run(store, END - DAY, "retrain", retrain_reason="drift", drifted_columns=("a", "b"))
    assert acknowledged_drift(store, "m", "1") is None  # not judged yet
    _rejected(store, "improvement", "non_inferiority")
    ack = acknowledged_drift(store, "m", "1")
    assert ack is not None
    assert (ack.columns, ack.version, ack.gates) == (
        ("a", "b"),
        "2",
        ("improvement", "non_inferiority"),
    )
    assert ack.rejected_at == END - DAY  # the data clock of the retrain decision
    assert acknowledged_drift(store, "m", "7") is None  # another champion
    stored = list_runs(store, "m")[0]
    assert (stored.retrain_reason, stored.drifted_columns) == ("drift", ("a", "b"))


def test_no_acknowledgement_for_other_rejections_or_after_a_rebaseline(store: Store) -> None:
    _run(store, END - DAY, "retrain", retrain_reason="performance", drifted_columns=("a",))
    _rejected(store, "improvement")
    assert acknowledged_drift(store, "m", "1") is None  # a performance retrain
    _run(store, END, "retrain", retrain_reason="drift", drifted_columns=("a",))
    _rejected(store, "latency")
    assert acknowledged_drift(store, "m", "1") is None  # rejected, but not as no better
    _run(store, END + DAY, "retrain", retrain_reason="drift", drifted_columns=("a",))
    _rejected(store, "improvement")
    assert acknowledged_drift(store, "m", "1") is not None
    audit.record_decision(
        store, model="m", action="rebaseline", outcome="rebaselined", triggered_by="t",
        reason="refreshed", champion_before="1", champion_after="1",
    )  # fmt: skip
    assert acknowledged_drift(store, "m", "1") is None


def test_a_lasting_estimate_retrain_rejected_as_no_better_acknowledges_the_estimate(
    store: Store,
) -> None:
    """A retrain asked for by a lasting estimated drop (no input drift: no columns) and
    rejected as no better stops the estimate from asking again; a drift retrain with
    neither columns nor that trigger acknowledges nothing."""
    _run(store, END - 2 * DAY, "retrain", retrain_reason="drift")
    _rejected(store, "improvement")
    assert acknowledged_drift(store, "m", "1") is None
    triggers = (ESTIMATED_DROP, LASTING_ESTIMATED_DROP)
    _run(store, END - DAY, "retrain", retrain_reason="drift", triggers=triggers)
    _rejected(store, "improvement")
    ack = acknowledged_drift(store, "m", "1")
    assert ack is not None
    assert (ack.estimated, ack.columns, ack.rejected_at) == (True, (), END - DAY)


def test_the_grace_of_a_champion_starts_at_its_first_monitored_window(store: Store) -> None:
    audit.record_decision(
        store, model="m", action="promote", outcome="promoted", triggered_by="t",
        reason="first", champion_before=None, champion_after="1",
    )  # fmt: skip
    takeovers = audit.champion_takeovers(store, "m")
    assert champion_since(store, "m", "1", takeovers, END) == END  # this window is the first
    _run(store, END)
    assert champion_since(store, "m", "1", takeovers, END + 3 * DAY) == END
    assert champion_since(store, "m", "9", takeovers, END) is None  # moved outside driftline
