"""The delivery journal: durable lines per store, a torn line ignored, drops exact."""

from __future__ import annotations

from pathlib import Path

from driftline.alerts.journal import Delivered, Journal, store_key


def test_lines_are_kept_per_store_and_dropped_exactly(tmp_path: Path) -> None:
    path = tmp_path / "alerts" / "delivered.jsonl"
    ours, theirs = Journal(path, store_key("sqlite:///a.db")), Journal(path, store_key("pg://b"))
    first, second = Delivered(1, "a1", "slack"), Delivered(2, "a2", "webhook")
    ours.append(first)
    theirs.append(Delivered(1, "b1", "slack"))
    ours.append(second)
    with path.open("a") as f:
        f.write('{"store": "' + ours.store + '", "id": 3, "alert')  # a crash mid-write
    assert ours.pending() == [first, second]
    assert theirs.pending() == [Delivered(1, "b1", "slack")]
    ours.drop([first])
    assert ours.pending() == [second]
    assert theirs.pending() == [Delivered(1, "b1", "slack")]  # another store's line stays
    ours.drop([Delivered(2, "other-alert", "webhook")])  # same id, another alert: kept
    assert ours.pending() == [second]
    third = Delivered(4, "a4", "slack")
    with path.open("a") as f:
        f.write('{"store": "torn')
    ours.append(third)  # a line after a torn one is whole
    assert ours.pending() == [second, third]


def test_a_missing_journal_holds_nothing(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "none.jsonl", store_key("x"))
    assert journal.pending() == []
    journal.drop([Delivered(1, "a", "slack")])
    assert not (tmp_path / "none.jsonl").exists()
