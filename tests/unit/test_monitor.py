"""Monitor runs on a real store: windows, decisions over time, reports, failed runs."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from driftline.config.errors import BaselineError, DataError
from driftline.config.progress import Step
from driftline.config.settings import Settings
from driftline.data import ingest
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.data.windows import window_bounds, window_ends
from driftline.devtools.simulate import Simulation
from driftline.lifecycle.baseline import Baseline
from driftline.monitoring.monitor import FAILURES_FILE, run_monitor
from driftline.monitoring.runs import history, list_runs, run_columns
from driftline.sdk import backfill, monitor_all, monitor_model
from driftline.specs import ModelSpec, Monitoring, load_spec, parse_spec
from tests.simdata import baseline_from, event_columns, event_start, scenario

SPECS = Path(__file__).resolve().parents[2] / "monitors"
START = datetime(2026, 9, 1, tzinfo=UTC)


def end_of(day: int) -> datetime:
    """The end of the daily window that covers simulated day ``day``."""
    return START + timedelta(days=day + 1)


def load(store: Store, spec: ModelSpec, sim: Simulation) -> None:
    ingest.log_predictions(store, spec, sim.predictions, Pseudonymizer(b"k" * 32))
    ingest.log_labels(store, spec, sim.labels)


def with_monitoring(spec: ModelSpec, **monitoring: object) -> ModelSpec:
    data = spec.model_dump(exclude={"source"}, mode="json")
    data["monitoring"] = monitoring
    return parse_spec(data)


@pytest.fixture(scope="module")
def mspec() -> ModelSpec:
    return load_spec(SPECS / "purchase_propensity.yaml")


@pytest.fixture(scope="module")
def bug_store(tmp_path_factory: pytest.TempPathFactory, mspec: ModelSpec) -> Store:
    """SQLite store holding the pipeline-bug simulation (bug on days 5 and 6)."""
    path = tmp_path_factory.mktemp("bug") / "driftline.db"
    store = Store(f"sqlite:///{path}")
    load(store, mspec, scenario("pipeline_bug"))
    return store


# -- windows -------------------------------------------------------------------------------


def test_window_bounds_and_backfill_ends() -> None:
    daily = Monitoring()
    now = datetime(2026, 9, 9, 6, 30, tzinfo=UTC)
    assert window_bounds(daily, now=now) == (end_of(6), end_of(7))
    assert window_bounds(daily, "2026-09-03T00:00:00Z") == (end_of(0), end_of(1))
    assert window_ends(daily, "2026-09-01", "2026-09-04") == [end_of(0), end_of(1), end_of(2)]
    twelve = Monitoring(window="12h")
    assert window_bounds(twelve, now=now)[1] == datetime(2026, 9, 9, 0, tzinfo=UTC)
    with pytest.raises(DataError, match="shorter than one window"):
        window_ends(daily, "2026-09-01", "2026-09-01T06:00:00Z")
    with pytest.raises(DataError, match="the backfill range is empty"):
        window_ends(daily, "2026-09-02", "2026-09-01")
    with pytest.raises(DataError, match="window end 'yesterday' is not a date or time"):
        window_bounds(daily, "yesterday")


# -- a run, stored -------------------------------------------------------------------------


def test_pipeline_bug_run_is_stored_with_columns_and_reports(
    bug_store: Store, mspec: ModelSpec, tmp_path: Path
) -> None:
    sim = scenario("pipeline_bug")
    day = event_start(sim)
    run = run_monitor(
        bug_store,
        mspec,
        baseline_from(sim, mspec),
        end_of(day),
        reports_dir=tmp_path / "reports",
        workspace_dir=tmp_path / "ws",
    )
    assert run.error is None and run.run_id is not None
    assert (run.status, run.action, run.decision.severity) == ("drift", "alert", "high")
    assert set(run.decision.drifted_columns) == event_columns(sim)
    assert "data_quality" in run.decision.triggers
    stored = next(r for r in list_runs(bug_store, mspec.name) if r.id == run.run_id)
    assert (stored.window_start, stored.window_end) == (end_of(day - 1), end_of(day))
    assert (stored.status, stored.decision, stored.champion_version) == ("drift", "alert", "1")
    assert stored.rows_current == run.rows and run.rows > 1500
    assert {q["column"] for q in stored.quality} == event_columns(sim)
    assert stored.reasons == list(run.decision.reasons)
    columns = run_columns(bug_store, run.run_id)
    assert [c.name for c in columns] == [*mspec.model.features.all, "score"]
    assert {c.name for c in columns if c.drifted} == event_columns(sim)
    assert columns[-1].role == "prediction"
    assert stored.report_path and Path(stored.report_path).is_file()
    assert Path(stored.report_path).parent == tmp_path / "reports" / mspec.name
    from evidently.ui.workspace import Workspace

    assert [p.name for p in Workspace(str(tmp_path / "ws")).list_projects()] == [mspec.name]


def test_too_few_rows_is_insufficient_data_never_drift(bug_store: Store, mspec: ModelSpec) -> None:
    sim = scenario("pipeline_bug")
    spec = with_monitoring(mspec, min_rows=50_000)
    run = run_monitor(bug_store, spec, baseline_from(sim, spec), end_of(event_start(sim)))
    assert (run.status, run.action, run.result) == ("insufficient_data", "none", None)
    assert "at least 50000 are needed" in run.decision.reasons[0]
    stored = next(r for r in list_runs(bug_store, spec.name) if r.id == run.run_id)
    assert stored.status == "insufficient_data" and stored.rows_current == run.rows
    assert stored.dataset_drift is None and stored.drift_share is None


# -- failed runs ---------------------------------------------------------------------------


def test_empty_window_is_a_recorded_failed_run(bug_store: Store, mspec: ModelSpec) -> None:
    run = run_monitor(bug_store, mspec, baseline_from(scenario("pipeline_bug"), mspec), end_of(40))
    assert run.status == "failed" and "is empty" in (run.error or "")
    stored = next(r for r in list_runs(bug_store, mspec.name) if r.id == run.run_id)
    assert (stored.status, stored.error) == ("failed", run.error)


def test_missing_champion_and_schema_mismatch_are_recorded_failed_runs(
    bug_store: Store, mspec: ModelSpec
) -> None:
    def no_champion() -> Baseline:
        raise BaselineError("model purchase_propensity has no version with alias 'champion'")

    run = run_monitor(bug_store, mspec, no_champion, end_of(3))
    assert run.status == "failed" and "no version with alias 'champion'" in (run.error or "")
    good = baseline_from(scenario("pipeline_bug"), mspec)
    lacking = Baseline(
        model=good.model,
        version="2",
        reference=good.reference.drop(columns=["channel"]),
        schema=good.schema,
    )
    run = run_monitor(bug_store, mspec, lacking, end_of(3))
    assert run.status == "failed" and "lacks columns ['channel']" in (run.error or "")
    stored = {r.id: r for r in list_runs(bug_store, mspec.name)}
    assert stored[run.run_id].champion_version == "2"
    assert stored[run.run_id].error == run.error


def _settings(tmp_path: Path, specs_dir: Path, **kw: object) -> Settings:
    return Settings(home=tmp_path / "home", specs_dir=specs_dir, pseudonym_key="k" * 32, **kw)


def test_unreachable_store_fails_every_monitor_into_a_file(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, SPECS, database_url="postgresql+psycopg://driftline:s3cret@127.0.0.1:9/none"
    )
    run = monitor_model("purchase_propensity", end_of(3), settings=settings)
    assert run.status == "failed" and run.run_id is None
    assert "cannot reach the store" in (run.error or "")
    assert "s3cret" not in (run.error or "")
    lines = (settings.resolved_home / FAILURES_FILE).read_text().splitlines()
    assert json.loads(lines[-1])["error"] == run.error


def test_a_broken_spec_does_not_stop_the_other_monitors(tmp_path: Path, mspec: ModelSpec) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(SPECS / "purchase_propensity.yaml", specs)
    broken = yaml.safe_load((SPECS / "purchase_propensity.yaml").read_text())
    broken["model"]["name"] = "churn"
    broken["monitoring"] = {"critical_features": ["not_a_feature"]}
    (specs / "churn.yaml").write_text(yaml.safe_dump(broken))
    settings = _settings(tmp_path, specs)
    store = Store.from_settings(settings)
    sim = scenario("stable")
    load(store, mspec, sim)
    store.dispose()
    runs = monitor_all(
        window_end=end_of(5), settings=settings, baseline_loader=lambda s: baseline_from(sim, s)
    )
    by_model = {r.model: r for r in runs}
    assert by_model["churn"].status == "failed"
    assert "not features: ['not_a_feature']" in (by_model["churn"].error or "")
    assert by_model["purchase_propensity"].status == "ok"
    store = Store.from_settings(settings)
    assert [r.status for r in list_runs(store, "churn")] == ["failed"]
    store.dispose()


# -- decisions over time -------------------------------------------------------------------


def test_backfill_waits_for_persistence_then_for_labels_after_the_change(
    tmp_path: Path, mspec: ModelSpec
) -> None:
    """channel_shift ramps up from day 5 (channel is critical): input drift must persist
    2 of 3 windows before a retrain is wanted; then the retrain waits ("pending") for
    labelled rows after the drift's first day, which a 7-day label delay does not give
    within the 10 days, and no cooldown starts while it waits."""
    spec_data = yaml.safe_load((SPECS / "purchase_propensity.yaml").read_text())
    spec_data["monitoring"] = {
        "critical_features": ["channel"],
        "policy": {"persistence": {"required": 2, "of_last": 3}, "cooldown": "3d"},
        "performance": {"enabled": False},
    }
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "purchase_propensity.yaml").write_text(yaml.safe_dump(spec_data))
    settings = _settings(tmp_path, specs)
    spec = load_spec(specs / "purchase_propensity.yaml")
    sim = scenario("channel_shift")
    store = Store.from_settings(settings)
    load(store, spec, sim)
    steps: list[Step] = []
    runs = backfill(
        "purchase_propensity",
        end_of(3),
        end_of(9),
        settings=settings,
        baseline_loader=lambda s: baseline_from(sim, s),
        progress=steps.append,
    )
    days = {r.window_start.day - 1: r for r in runs}
    assert sorted(days) == [4, 5, 6, 7, 8, 9]
    # one report before and one after each window, counting up to the six windows
    assert [s.done for s in steps] == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6]
    assert {(s.task, s.total) for s in steps} == {("monitor purchase_propensity", 6)}
    assert steps[-1].note == runs[-1].status
    drifted = [d for d, r in days.items() if r.decision.input_drift]
    assert drifted == list(range(min(drifted), 10)) and min(drifted) > event_start(sim)
    first = min(drifted)
    assert first <= 7, "the shift should be caught within 3 days"
    assert days[first].action == "alert"  # drift once: not yet persistent
    for later in range(first + 1, 10):  # twice in the last three windows: wanted, pending
        decision = days[later].decision
        assert decision.action == "alert"
        assert {"persistent", "retrain_pending"} <= set(decision.triggers)
        assert "cooldown" not in decision.triggers
        assert decision.retrain_reason == "drift"
        assert any(r.startswith("retrain pending: 0 of ") for r in decision.reasons)
        change = f"after the change on {days[first].window_start:%Y-%m-%d}"
        assert any(change in r for r in decision.reasons)
    assert all(days[d].action != "retrain" for d in days if d < first)
    assert all(days[d].action == "none" for d in days if d < event_start(sim))
    past = history(store, "purchase_propensity", since=end_of(0), before=end_of(10))
    assert [p.action for p in past][::-1] == [days[d].action for d in sorted(days)]
    store.dispose()


def test_performance_drop_triggers_retrain_without_input_drift(
    tmp_path: Path, mspec: ModelSpec
) -> None:
    """concept_drift from day 10: inputs stay put, realized ROC AUC falls once labels of
    the drifted days have matured (7 days later)."""
    sim = scenario("concept_drift", days=20)
    spec = with_monitoring(mspec, performance={"window": "2d"})
    store = Store(f"sqlite:///{tmp_path / 'driftline.db'}")
    load(store, spec, sim)
    baseline = baseline_from(sim, spec)
    early = run_monitor(store, spec, baseline, end_of(12))  # scores days 4-5: before drift
    assert early.action == "none" and early.result is not None
    assert early.result.performance is not None and early.result.performance.labelled_rows > 2500
    late = run_monitor(store, spec, baseline, end_of(19))  # scores days 11-12: drifted
    assert not late.decision.input_drift
    assert (late.action, late.decision.severity) == ("retrain", "critical")
    assert "performance_drop" in late.decision.triggers
    assert any("realized roc_auc" in r for r in late.decision.reasons)
    # Labels that had not arrived by the window's end do not count (no look-ahead): with
    # a 3-day delay in the spec, the scored predictions' labels are still 4 days away.
    data = spec.model_dump(exclude={"source"}, mode="json")
    data["model"]["label_delay_days"] = 3
    unripe = run_monitor(store, parse_spec(data), baseline, end_of(12))
    assert unripe.result is not None and unripe.result.performance is not None
    assert unripe.result.performance.labelled_rows == 0
    assert unripe.action == "none"
    store.dispose()


def test_runs_on_both_databases(store: Store, mspec: ModelSpec) -> None:
    sim = scenario("pipeline_bug")
    load(store, mspec, sim)
    base = baseline_from(sim, mspec)
    quiet = run_monitor(store, mspec, base, end_of(3))
    broken = run_monitor(store, mspec, base, end_of(event_start(sim)))
    assert (quiet.status, broken.status) == ("ok", "drift")
    runs = list_runs(store, mspec.name)
    assert [r.id for r in runs] == [broken.run_id, quiet.run_id]
    assert runs[0].window_end == end_of(event_start(sim))
    assert runs[0].window_end.tzinfo is not None
    assert {c.name for c in run_columns(store, broken.run_id) if c.drifted} == event_columns(sim)
    past = history(store, mspec.name, since=end_of(0), before=end_of(9))
    assert [(p.status, p.quality_ok) for p in past] == [("drift", False), ("ok", True)]
