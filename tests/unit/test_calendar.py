"""Calendar events on a real store: the simulator's flash sale, declared and undeclared."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from driftline.alerts.channels.slack import slack_limit_violations, slack_payload
from driftline.alerts.delivery import Destinations
from driftline.alerts.monitor_run import alert_for, notify_run
from driftline.alerts.outbox import list_entries, skip_reason
from driftline.data import ingest
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.monitoring.monitor import MonitorRun, event_reference, run_monitor
from driftline.monitoring.runs import list_runs
from driftline.specs import ModelSpec, load_spec, parse_spec
from tests.simdata import baseline_from, event_columns, event_start, scenario

SPECS = Path(__file__).resolve().parents[2] / "monitors"
START = datetime(2026, 9, 1, tzinfo=UTC)
SALE = scenario("flash_sale")
FIRST = event_start(SALE)  # the sale lasts 3 days


def end_of(day: int) -> datetime:
    return START + timedelta(days=day + 1)


def _spec(calendar: list[dict[str, object]] | None = None) -> ModelSpec:
    """purchase_propensity with a fast engine and a short persistence (2 of 3 windows), so
    a sale that lasts 3 days would ask for a retrain."""
    data = load_spec(SPECS / "purchase_propensity.yaml").model_dump(exclude={"source"}, mode="json")
    data["monitoring"] = {
        "drift": {"engine": "scipy", "drift_share": 0.3},
        "critical_features": ["cart_adds_7d", "discount_share"],
        "performance": {"enabled": False},
        "policy": {"persistence": {"required": 2, "of_last": 3}},
    }
    data["calendar"] = {"events": calendar or []}
    return parse_spec(data)


def _sale(**extra: object) -> dict[str, object]:
    return {
        "name": "flash_sale",
        "start": (START + timedelta(days=FIRST)).isoformat(),
        "end": (START + timedelta(days=FIRST + 3)).isoformat(),
        "expected_columns": [*sorted(event_columns(SALE)), "score"],
        "expect": "2.5x traffic, discounts, new customers, smaller baskets",
        **extra,
    }


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file holding the flash-sale simulation (copied by each test: one ingestion)."""
    path = tmp_path_factory.mktemp("sale") / "driftline.db"
    store = Store(f"sqlite:///{path}")
    spec = _spec()
    ingest.log_predictions(store, spec, SALE.predictions, Pseudonymizer(b"k" * 32))
    ingest.log_labels(store, spec, SALE.labels)
    store.dispose()
    return path


def _store(loaded: Path, tmp_path: Path) -> Store:
    shutil.copy(loaded, tmp_path / "driftline.db")
    return Store(f"sqlite:///{tmp_path / 'driftline.db'}")


def _monitor(
    loaded: Path, tmp_path: Path, spec: ModelSpec, days: range
) -> tuple[Store, list[MonitorRun]]:
    store = _store(loaded, tmp_path)
    baseline = baseline_from(SALE, spec)
    return store, [run_monitor(store, spec, baseline, end_of(d)) for d in days]


def test_a_declared_sale_retrains_nothing_and_alerts_once(loaded: Path, tmp_path: Path) -> None:
    """A backfill over the sale's first day records it and sends nothing; the first live
    run (as `monitor run` does it: decide, then the outbox) announces the event, and the
    next one only notes it: one informational alert over the sale."""
    spec = _spec([_sale()])
    store = _store(loaded, tmp_path)
    baseline = baseline_from(SALE, spec)
    runs = [
        run_monitor(store, spec, baseline, end_of(d), backfill=True) for d in (FIRST - 1, FIRST)
    ]
    for day in (FIRST + 1, FIRST + 2):
        runs.append(run_monitor(store, spec, baseline, end_of(day)))
        notify_run(store, runs[-1], spec, Destinations())
    assert all(r.error is None for r in runs), [r.error for r in runs]
    during = runs[1:]
    assert all(r.action != "retrain" for r in runs)
    assert not any(r.decision.input_drift for r in during)  # nothing counts toward persistence
    # the backfilled first day raised the event (its history), but queued nothing
    assert during[0].decision.findings == ["calendar_event"]
    queued = list_entries(store, model=spec.name)
    assert [e.kind for e in queued] == ["calendar_event"]
    first_live = {r.window_end: r for r in list_runs(store, spec.name)}[end_of(FIRST + 1)]
    assert first_live.alert_id == queued[0].alert_id
    alert = alert_for(during[1], spec)
    assert alert is not None and alert.kind == "calendar_event" and alert_for(during[2]) is None
    assert alert.severity == "info" and skip_reason(alert, spec.alerts) is None
    assert alert.title.startswith("Calendar event flash_sale:")
    payload = slack_payload(alert)
    assert slack_limit_violations(payload) == [] and "calendar event" in json.dumps(payload)
    said = f"announced by the alert of the window ending {end_of(FIRST + 1):%Y-%m-%d %H:%M} UTC"
    assert any(said in r for r in during[2].decision.reasons)
    # the expected drift is recorded and shown: columns stored as drifted, and the reason
    # names each expected column once, with what was seen on it
    for run in during:
        assert {"discount_share", "cart_adds_7d"} <= set(run.result.drifted_columns)
        (reason,) = [r for r in run.decision.reasons if r.startswith("calendar event flash_sale")]
        for column in spec.calendar.events[0].expected_columns:
            assert len(re.findall(rf"\b{column}\b", reason)) == 1, (column, reason)
        assert "discount_share (drifted; out_of_range)" in reason
    assert [r.action for r in during[1:]] == ["alert", "none"]
    stored = list_runs(store, spec.name)
    assert all("calendar_event" in r.triggers for r in stored if r.window_end > end_of(FIRST - 1))
    store.dispose()


def test_an_undeclared_sale_alerts_as_before(loaded: Path, tmp_path: Path) -> None:
    spec = _spec()
    store, runs = _monitor(loaded, tmp_path, spec, range(FIRST, FIRST + 2))
    for run in runs:
        assert run.decision.input_drift and "discount_share" in run.decision.drifted_columns
        alert = alert_for(run, spec)
        assert alert is not None and alert.kind in ("drift", "quality")
        assert skip_reason(alert, spec.alerts) is None
    # as without a calendar: the sale's discounts break the range rule, so every sale day
    # alerts (high) and none counts toward persistence
    for run in runs:
        assert run.action == "alert" and run.decision.severity == "high"
        assert {"dataset_drift", "critical_feature", "data_quality"} <= set(run.decision.triggers)
    store.dispose()


def test_an_event_declares_columns_only_the_undeclared_ones_still_count(
    loaded: Path, tmp_path: Path
) -> None:
    from driftline.cli import monitoring as cli

    spec = _spec([_sale(expected_columns=["discount_share", "score"])])
    store, (run,) = _monitor(loaded, tmp_path, spec, range(FIRST, FIRST + 1))
    assert "discount_share" not in run.decision.drifted_columns
    assert "cart_adds_7d" in run.decision.drifted_columns and run.decision.input_drift
    alert = alert_for(run, spec)
    assert run.action == "alert" and alert is not None and alert.kind == "drift"
    # the sale's discounts beyond the reference range: shown everywhere, labelled as not
    # counted (the alert's data-quality section, the CLI, the summary, the stored run)
    label = "expected during flash_sale, not counted"
    assert [q.name for q in alert.quality] == [f"out_of_range: discount_share ({label})"]
    with cli.console.capture() as captured:
        cli._render_run(run)
    shown = " ".join(captured.get().split())
    assert re.search(rf"data quality discount_share: .{{0,120}} above\) \({label}\)", shown)
    assert run.summary()["quality_issues"] == 0
    (stored,) = list_runs(store, spec.name)
    assert [(q["column"], q["counted"]) for q in stored.quality] == [("discount_share", False)]
    assert stored.events == ("flash_sale",) and "discount_share" in stored.expected_columns
    store.dispose()


def test_last_occurrence_is_the_reference_when_the_store_holds_it(
    loaded: Path, tmp_path: Path
) -> None:
    later = {
        "name": "flash_sale",
        "start": (START + timedelta(days=FIRST + 4)).isoformat(),
        "end": (START + timedelta(days=FIRST + 5)).isoformat(),
        "expected_columns": ["discount_share"],
        "reference": "last_occurrence",
    }
    spec = _spec([_sale(reference="last_occurrence"), later])
    store = _store(loaded, tmp_path)
    baseline = baseline_from(SALE, spec)
    event = spec.calendar.events[1]
    checked, reference, notes = event_reference(store, spec, baseline, [event])
    sale_rows = int((SALE.predictions["event_ts"] >= START + timedelta(days=FIRST)).sum())
    sale_rows -= int((SALE.predictions["event_ts"] >= START + timedelta(days=FIRST + 3)).sum())
    consenting = SALE.predictions["consent_analytics"].mean()
    assert len(reference.reference) == pytest.approx(sale_rows * consenting, rel=0.05)
    assert not checked.monitoring.prediction_drift.enabled
    assert "compared with its last occurrence" in notes[0]
    # the first occurrence has none: the baseline stands, and the run says so
    _, kept, why = event_reference(store, spec, baseline, [spec.calendar.events[0]])
    assert kept is baseline and "no earlier occurrence" in why[0]
    store.dispose()


def test_calendar_spec_errors_name_the_event() -> None:
    from driftline.config.errors import SpecError

    with pytest.raises(SpecError, match=r"expected_columns \['basket'\]"):
        _spec([_sale(expected_columns=["basket"])])
    with pytest.raises(SpecError, match=r"ends .* at or before it starts"):
        _spec([_sale(end=START.isoformat())])


def test_with_segments_on_an_event_counts_only_undeclared_columns_everywhere(
    loaded: Path, tmp_path: Path
) -> None:
    """Segment drift on a declared column is recorded, never named, and its true
    discoveries do not loosen the false-discovery cut-off of the undeclared columns: the
    first sale day raises the one informational event alert, no segment alert; the alert,
    the run's summary, the CLI verdict and the stored run agree with the reasons."""
    from driftline.cli import monitoring as cli

    spec = _spec([_sale()])
    data = spec.model_dump(exclude={"source"}, mode="json")
    data["monitoring"]["segments"] = {"enabled": True, "min_rows": 100}
    data["monitoring"]["multivariate"] = {"enabled": True}
    spec = parse_spec(data)
    expected = set(spec.calendar.events[0].expected_columns)
    store, runs = _monitor(loaded, tmp_path, spec, range(FIRST, FIRST + 3))
    assert all(r.error is None for r in runs) and all(r.action != "retrain" for r in runs)
    first = runs[0]
    assert set(first.decision.expected_columns) == expected
    report = first.result.segments
    # the sale moves the declared columns inside every segment: recorded in the report
    assert len(report.drifted) == len(report.segments) and report.counted(expected) == []
    alert = alert_for(first, spec)
    assert alert is not None and alert.kind == "calendar_event", alert
    assert not first.decision.input_drift and "segment_drift" not in first.decision.triggers
    for run in runs:
        counted = {s.value for s in run.result.segments.counted(expected)}
        named = {
            r.split(" (")[0]
            for r in run.decision.reasons
            if r.endswith(" drifted") and not r.startswith("expected during")
        }
        assert counted == named
        said = alert_for(run, spec)
        facts = {k.removeprefix("Segment ") for k in (said.facts if said else {})}
        if said is not None and said.kind != "calendar_event":
            # the event is named on the alert; an expected column is never a top drift
            assert "Calendar event" in said.facts
            assert not {f.column for f in said.drifted_features} & expected
        assert facts & {s.value for s in run.result.segments.segments} <= counted
        summary = run.summary()["segments_drifted"]
        assert all(not set(cols) & expected for cols in summary.values())
    stored = {r.window_end: r for r in list_runs(store, spec.name)}
    for run in runs:
        row = stored[run.window_end]
        assert row.dataset_drift == run.decision.dataset_drift
        assert row.dataset_drift == (row.drift_share >= spec.monitoring.drift.drift_share)
    # the CLI verdict line is the policy's count, with the engine's raw count beside it
    with cli.console.capture() as captured:
        cli._render_run(first)
    text = captured.get()
    assert f"({first.decision.drift_share:.0%}, threshold" in text
    assert "no dataset drift in the whole window; alert from a calendar event:" in text
    assert "expected during flash_sale, not counted: recency_days" in " ".join(text.split())
    assert f"{len(expected) - 1} expected, not counted" in text  # the segment table
    for seg in report.segments:  # its quality column: the sale's discounts, labelled
        shown = cli._segment_quality(seg, first.decision)
        assert "expected during flash_sale, not counted: " in shown and "discount_share" in shown
    # monitor history: segments with expected drift only are not named as drifted
    history = cli._extras(stored[first.window_end])
    assert history.startswith(f"segments: none drifted ({len(report.segments)} with expected")
    store.dispose()
