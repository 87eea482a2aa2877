"""Which windows' reports retention deletes (pure), and which file names it recognises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from driftline.monitoring.retention import MB, Window, report_window_end, select_pruned

DAY0 = datetime(2026, 10, 1, tzinfo=UTC)


def _windows(*sizes_mb: float) -> list[Window]:
    """One window a day from DAY0, of the given sizes, given newest last."""
    return [Window(DAY0 + timedelta(days=i), size=int(s * MB)) for i, s in enumerate(sizes_mb)]


def _days(windows: list[Window]) -> list[int]:
    return [(w.end - DAY0).days for w in windows]


def test_keep_days_counts_back_from_the_newest_window() -> None:
    pruned, kept = select_pruned(_windows(1, 1, 1, 1, 1), keep_days=2, max_mb=None)
    assert (_days(pruned), _days(kept)) == ([0, 1], [2, 3, 4])


def test_the_window_a_run_just_reported_is_never_pruned() -> None:
    """`monitor run` for an old window prints its report path: retention spares it."""
    windows = _windows(1, 1, 1, 1, 1, 1)
    pruned, kept = select_pruned(windows, 2, None, keep=DAY0 + timedelta(days=1, seconds=30))
    assert _days(pruned) == [0, 2] and _days(kept) == [1, 3, 4, 5]
    pruned, kept = select_pruned(windows, None, 2.5, keep=DAY0)
    assert _days(pruned) == [1, 2, 3] and _days(kept) == [0, 4, 5]
    assert _days(select_pruned(windows, 2, None, keep=DAY0 + timedelta(days=5))[1]) == [3, 4, 5]


def test_max_mb_drops_the_oldest_first_and_never_the_newest() -> None:
    pruned, kept = select_pruned(_windows(4, 3, 2, 1), keep_days=None, max_mb=3.5)
    assert (_days(pruned), _days(kept)) == ([0, 1], [2, 3])
    pruned, kept = select_pruned(_windows(1, 9), keep_days=None, max_mb=0.5)
    assert (_days(pruned), _days(kept)) == ([0], [1])  # the newest stays, however large


def test_both_limits_apply_and_no_limit_keeps_everything() -> None:
    pruned, kept = select_pruned(_windows(5, 1, 1, 1, 1), keep_days=3, max_mb=2.5)
    assert (_days(pruned), _days(kept)) == ([0, 1, 2], [3, 4])
    assert select_pruned(_windows(1, 1), None, None) == ([], _windows(1, 1))


@pytest.mark.parametrize(
    ("name", "end"),
    [
        ("pp-20261001T0000Z-1a2b3c4d.html", datetime(2026, 10, 1, tzinfo=UTC)),
        ("pp-20261001T0600Z-1a2b3c4d-performance.html", datetime(2026, 10, 1, 6, tzinfo=UTC)),
        ("pp_other-20261001T0000Z-1a2b3c4d.html", None),  # another model's
        ("pp-20261001T0000Z-1a2b3c4d.html.bak", None),
        ("notes.html", None),  # a file someone put there: never touched
    ],
)
def test_report_names(name: str, end: datetime | None) -> None:
    assert report_window_end("pp", Path(name)) == end


@pytest.mark.parametrize(
    ("reports", "key"),
    [
        ({"keep_days": 0}, "reports.keep_days"),
        ({"max_mb": -1}, "reports.max_mb"),
        ({"days": 3}, "reports.days"),
    ],
)
def test_bad_reports_keys_are_refused_naming_the_key(
    tmp_path: Path, reports: dict[str, int], key: str
) -> None:
    import yaml

    from driftline.config.errors import SpecError
    from driftline.specs import load_spec

    repo = Path(__file__).resolve().parents[2]
    data = yaml.safe_load((repo / "monitors" / "purchase_propensity.yaml").read_text())
    path = tmp_path / "purchase_propensity.yaml"
    path.write_text(yaml.safe_dump({**data, "reports": {"keep_days": 30, "max_mb": 200}}))
    assert load_spec(path).reports.max_mb == 200
    path.write_text(yaml.safe_dump({**data, "reports": reports}))
    with pytest.raises(SpecError, match=key.replace(".", r"\.")):
        load_spec(path)
