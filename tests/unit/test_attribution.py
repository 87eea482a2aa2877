"""Which model version made each prediction: champion intervals from the audit trail's
takeovers, and a version per row (the logged one, else the champion of the moment)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from driftline.monitoring.attribution import (
    ChampionInterval,
    attribute_versions,
    champion_intervals,
    majority_version,
)

T = pd.Timestamp("2026-10-01", tz="UTC")


def at(hours: float) -> pd.Timestamp:
    return T + pd.Timedelta(hours=hours)


def test_intervals_follow_the_takeovers_in_time_order() -> None:
    # given out of order, with a naive time (taken as UTC)
    takeovers = [(at(48), "3"), (datetime(2026, 10, 1), "1"), (at(24), "2")]
    assert champion_intervals(takeovers) == [
        ChampionInterval("1", T, at(24)),
        ChampionInterval("2", at(24), at(48)),
        ChampionInterval("3", at(48), None),
    ]


def test_a_rollback_is_a_takeover_and_a_repeat_extends_the_interval() -> None:
    takeovers = [(at(0), "1"), (at(10), "2"), (at(20), "1"), (at(30), "1")]
    assert champion_intervals(takeovers) == [
        ChampionInterval("1", at(0), at(10)),
        ChampionInterval("2", at(10), at(20)),
        ChampionInterval("1", at(20), None),  # promoted again at 30: still the same spell
    ]


def test_two_moves_at_one_instant_keep_the_later() -> None:
    assert champion_intervals([(at(0), "1"), (at(5), "2"), (at(5), "3")]) == [
        ChampionInterval("1", at(0), at(5)),
        ChampionInterval("3", at(5), None),
    ]


def test_without_takeovers_the_current_champion_holds_for_all_time() -> None:
    assert champion_intervals([], current="4") == [ChampionInterval("4", None, None)]
    assert champion_intervals([]) == []
    # a recorded history wins over the current champion: it says when each took over
    assert champion_intervals([(at(0), "1")], current="4") == [ChampionInterval("1", at(0), None)]


def test_rows_take_the_logged_version_else_the_champion_of_their_time() -> None:
    intervals = champion_intervals([(at(0), "1"), (at(24), "2")])
    times = pd.Series([at(-1), at(0), at(23.99), at(24), at(100), at(1), at(30)])
    logged = pd.Series([None, None, None, None, None, "7", float("nan")])
    versions = attribute_versions(logged, times, intervals)
    # before the first champion: no version (bootstrap); a takeover's instant belongs to
    # the new champion; the last champion holds until now; a logged version always wins
    assert versions.tolist() == [None, "1", "1", "2", "2", "7", "2"]
    assert versions.index.equals(logged.index)


def test_attribution_keeps_the_frame_index_and_reads_naive_times_as_utc() -> None:
    intervals = [ChampionInterval("1", None, at(10)), ChampionInterval("2", at(10), None)]
    times = pd.Series([datetime(2026, 10, 1, 9), datetime(2026, 10, 1, 11)], index=[7, 3])
    logged = pd.Series([None, None], index=[7, 3], dtype=object)
    assert attribute_versions(logged, times, intervals).to_dict() == {7: "1", 3: "2"}


def test_no_champion_ever_leaves_unversioned_rows_unattributed() -> None:
    logged = pd.Series([None, "3"], dtype=object)
    versions = attribute_versions(logged, pd.Series([at(0), at(1)]), [])
    assert versions.tolist() == [None, "3"]


def test_an_interval_contains_its_start_not_its_end() -> None:
    spell = ChampionInterval("2", at(0), at(1))
    assert at(0) in spell and at(0.5) in spell
    assert at(1) not in spell and at(-0.1) not in spell
    assert datetime(2020, 1, 1, tzinfo=UTC) in ChampionInterval("1", None, None)


@pytest.mark.parametrize(
    ("versions", "champion", "expected"),
    [
        (["1", "2", "2"], "1", "2"),  # most rows
        (["1", "2"], "1", "1"),  # a tie goes to the champion
        (["3", "10"], "1", "10"),  # ... else to the newest (numeric order, not text)
        ([None, None], "1", None),
        (["2", None, None], "1", "2"),  # missing values do not count
    ],
)
def test_majority_version(versions: list[str | None], champion: str, expected: str | None) -> None:
    assert majority_version(pd.Series(versions, dtype=object), champion) == expected


def test_an_adopted_first_champion_made_the_rows_before_its_adoption() -> None:
    """An adopted model was serving before driftline knew it; a promoted one was not."""
    at = pd.Timestamp("2026-10-01", tz="UTC")
    adopted = champion_intervals([(at, "1", True), (at + pd.Timedelta(days=5), "2", False)])
    assert [(i.version, i.start) for i in adopted] == [
        ("1", None),
        ("2", at + pd.Timedelta(days=5)),
    ]
    promoted = champion_intervals([(at, "1", False)])
    assert promoted[0].start == at
