"""Segment drift: per-segment tests through the engine registry, Benjamini-Hochberg across
segments x columns, realized performance per segment, stored with the monitor run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from driftline.alerts.monitor_run import alert_for
from driftline.data import ingest
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.monitoring.engines import ENGINES
from driftline.monitoring.monitor import run_monitor
from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.results import SegmentReport
from driftline.monitoring.runs import list_runs
from driftline.monitoring.segments import check_segments
from driftline.specs import ModelSpec, SegmentDrift, load_spec, parse_spec
from driftline.tasks import task_for
from tests.simdata import baseline_from, labelled, scenario, window

SPECS = Path(__file__).resolve().parents[2] / "monitors"
SETTINGS = SegmentDrift(enabled=True, min_rows=200)


@pytest.fixture(scope="module")
def mspec() -> ModelSpec:
    return load_spec(SPECS / "purchase_propensity.yaml")


def _segments(
    name: str, mspec: ModelSpec, day: int, columns: list[str], **kw: object
) -> SegmentReport:
    sim = scenario(name)
    baseline = baseline_from(sim, mspec)  # days 0-2, before any change
    return check_segments(
        baseline.reference,
        window(sim, day),
        DriftPlan.from_spec(mspec),
        SETTINGS,
        columns,
        ENGINES.get("scipy"),
        **kw,  # type: ignore[arg-type]
    )


def _raw_positives(report: SegmentReport, skip: str | None = None) -> int:
    """Columns whose uncorrected p-value is below 0.05 (what testing without BH finds)."""
    return sum(c.score < c.threshold for s in report.segments if s.value != skip for c in s.columns)


def test_channel_shift_drifts_in_paid_social_only(mspec: ModelSpec) -> None:
    """paid_social newcomers grow from day 5; the other channels' visitors do not change.
    Uncorrected, the stable channels show false positives; corrected, they do not."""
    uncorrected = 0
    for day in (6, 7, 8):
        report = _segments("channel_shift", mspec, day, ["channel"])
        flagged = {s.value for s in report.drifted}
        assert flagged == {"paid_social"}, (
            day,
            {s.label: s.drifted_columns for s in report.drifted},
        )
        social = next(s for s in report.segments if s.value == "paid_social")
        assert {"frequency_90d", "days_since_signup", "customer_type"} <= set(
            social.drifted_columns
        )
        assert "channel" not in [c.name for c in social.columns]  # constant in its segment
        assert report.tests == sum(len(s.columns) for s in report.segments)
        uncorrected += _raw_positives(report, skip="paid_social")
    assert uncorrected > 0, "without false-discovery control stable channels would drift"


def test_stable_segments_raise_nothing_after_false_discovery_control(mspec: ModelSpec) -> None:
    uncorrected = 0
    for day in (6, 7, 8, 9):
        report = _segments("stable", mspec, day, ["channel", "device"])
        assert report.drifted == [], {s.label: s.drifted_columns for s in report.drifted}
        assert all(
            c.p_adjusted is not None and c.p_adjusted >= c.score
            for s in report.segments
            for c in s.columns
        )
        uncorrected += _raw_positives(report)
    assert uncorrected >= 4  # ~5% of ~80 tests a window, as chance has it


def test_small_segments_are_skipped_and_said(mspec: ModelSpec) -> None:
    report = _segments("stable", mspec, 6, ["channel"])
    assert any(s.startswith("channel=referral: ") for s in report.skipped) or any(
        s.value == "referral" and s.rows_current >= 200 for s in report.segments
    )
    big = SegmentDrift(enabled=True, min_rows=5000)
    sim = scenario("stable")
    none = check_segments(
        baseline_from(sim, mspec).reference,
        window(sim, 6),
        DriftPlan.from_spec(mspec),
        big,
        ["channel"],
        ENGINES.get("scipy"),
    )
    assert none.segments == () and len(none.skipped) == 6 and none.tests == 0


def test_realized_performance_per_segment(mspec: ModelSpec) -> None:
    sim = scenario("stable")
    rows = labelled(sim, 3, 6)
    report = _segments(
        "stable",
        mspec,
        6,
        ["device"],
        labelled=rows,
        task=task_for(mspec.model),
        baseline_metrics={"roc_auc": 0.8},
    )
    mobile = next(s for s in report.segments if s.value == "mobile")
    assert mobile.performance is not None
    assert mobile.performance.labelled_rows == int((rows["device"] == "mobile").sum())
    assert 0.5 < mobile.performance.metrics["roc_auc"] < 1.0
    assert mobile.performance.baseline == {"roc_auc": 0.8}


def test_segment_methods_are_checked_against_the_segment_engine(mspec: ModelSpec) -> None:
    from driftline.config.errors import SpecError

    data = mspec.model_dump(exclude={"source"}, mode="json")
    data["monitoring"]["segments"] = {"enabled": True, "numerical_method": "psi"}
    with pytest.raises(SpecError, match=r"monitoring\.segments\.numerical_method"):
        parse_spec(data)
    data["monitoring"]["segments"] = {"enabled": True, "columns": ["recency_days"]}
    with pytest.raises(SpecError, match="not categorical features"):
        parse_spec(data)


def test_monitor_run_stores_segments_and_the_alert_names_the_segment(
    tmp_path: Path, mspec: ModelSpec
) -> None:
    data = mspec.model_dump(exclude={"source"}, mode="json")
    data["monitoring"] = {
        "drift": {"engine": "scipy"},
        "performance": {"enabled": False},
        "prediction_drift": {"enabled": False},
        "segments": {"enabled": True, "columns": ["channel"], "min_rows": 200},
    }
    spec = parse_spec(data)
    sim = scenario("channel_shift")
    store = Store(f"sqlite:///{tmp_path / 'driftline.db'}")
    ingest.log_predictions(store, spec, sim.predictions, Pseudonymizer(b"k" * 32))
    end = datetime(2026, 9, 1, tzinfo=UTC) + timedelta(days=8)  # the window of day 7
    run = run_monitor(store, spec, baseline_from(sim, spec), end)
    assert run.error is None and run.result is not None and run.result.segments is not None
    assert [s.value for s in run.result.segments.drifted] == ["paid_social"]
    assert "segment_drift" in run.decision.triggers
    assert any(r.startswith("paid_social (channel): ") for r in run.decision.reasons)
    alert = alert_for(run, spec)
    assert alert is not None and "Segment paid_social" in alert.facts
    (stored,) = list_runs(store, spec.name)
    assert stored.segments == run.result.segments
    store.dispose()


def test_cli_shows_segments_of_a_run_and_of_its_history(mspec: ModelSpec) -> None:
    from rich.console import Console

    from driftline.cli.monitoring import _extras, _segments_table
    from driftline.monitoring.runs import StoredRun

    report = _segments("channel_shift", mspec, 7, ["channel"])
    out = Console(record=True, width=200, markup=False)
    out.print(_segments_table(report, "segments"))
    text = out.export_text()
    assert "channel=paid_social" in text and "frequency_90d" in text
    assert f"{report.tests} p-value tests, Benjamini-Hochberg at q=0.05" in text
    stored = StoredRun(
        *([None] * 24),  # type: ignore[arg-type]
        segments=report,
    )
    assert _extras(stored) == "segments: paid_social"


def test_segment_snapshot_feeds_the_per_segment_dashboard_panel(
    tmp_path: Path, mspec: ModelSpec
) -> None:
    from evidently.ui.workspace import Workspace

    from driftline.monitoring.segments import SegmentSnapshot
    from driftline.ops.dashboards import load_dashboard, render_panels

    report = _segments("channel_shift", mspec, 7, ["channel"])
    when = datetime(2026, 9, 8, tzinfo=UTC)
    snapshot = SegmentSnapshot(report, when).snapshot()
    values = {m["config"]["column"]: m["value"] for m in snapshot.dict()["metrics"]}
    assert values == {f"segment {s.label}": len(s.drifted_columns) for s in report.segments}
    assert values["segment channel=paid_social"] >= 3 and values["segment channel=organic"] == 0
    workspace = Workspace(str(tmp_path / "ws"))
    project = workspace.create_project("purchase_propensity")
    assert len(SegmentSnapshot(report, when).add_to_workspace(workspace, project.id, "w")) == 1
    dashboard, _ = load_dashboard(Path(__file__).resolve().parents[2] / "dashboards", mspec.name)
    titles = [p.title for p in render_panels(dashboard, mspec)]
    assert "Drifted columns per segment (Benjamini-Hochberg)" in titles
