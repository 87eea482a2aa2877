"""Monitor runs on a real store: windows, decisions over time, reports, failed runs."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftline.config.errors import BaselineError, DataError
from driftline.config.progress import Step
from driftline.config.settings import Settings
from driftline.data import ingest
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.data.windows import read_window, window_bounds, window_ends
from driftline.devtools.simulate import Simulation
from driftline.lifecycle.baseline import Baseline
from driftline.monitoring.monitor import FAILURES_FILE, run_monitor
from driftline.monitoring.runs import history, list_runs, record_alert, run_columns
from driftline.sdk import backfill, monitor_all, monitor_model
from driftline.specs import ModelSpec, Monitoring, load_spec, parse_spec
from tests.simdata import baseline_from, event_columns, event_start, scenario, window

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


def test_a_native_runs_snapshots_carry_the_decision(
    bug_store: Store, mspec: ModelSpec, tmp_path: Path
) -> None:
    """The native engine's report (Evidently's, rendered from a sample) is tagged with the
    decision in the workspace like the evidently engine's, and the snapshots that carry
    values to the dashboards are stored without plots."""
    from driftline.ops.dashboards import open_workspace

    sim = scenario("pipeline_bug")
    data = mspec.model_dump(exclude={"source"}, mode="json")
    data["monitoring"]["drift"]["engine"] = "native"
    spec = parse_spec(data)
    run = run_monitor(
        bug_store,
        spec,
        baseline_from(sim, spec),
        end_of(event_start(sim)),
        workspace_dir=tmp_path / "ws",
    )
    assert run.error is None and run.result is not None and run.result.engine == "native"
    workspace = open_workspace(tmp_path / "ws")
    [project] = workspace.search_project(spec.name)
    snapshots = [workspace.get_run(project.id, i) for i in run.snapshot_ids]
    drift = [s for s in snapshots if "guides" not in s.tags and "estimated" not in s.tags]
    assert drift
    for snapshot in drift:
        assert f"decision:{run.decision.action}" in snapshot.tags, snapshot.tags
        assert snapshot.metadata["decision"] == run.decision.action


def test_too_few_rows_is_insufficient_data_never_drift(bug_store: Store, mspec: ModelSpec) -> None:
    sim = scenario("pipeline_bug")
    spec = with_monitoring(mspec, min_rows=50_000)
    run = run_monitor(bug_store, spec, baseline_from(sim, spec), end_of(event_start(sim)))
    assert (run.status, run.action, run.result) == ("insufficient_data", "none", None)
    assert "at least 50000 are needed" in run.decision.reasons[0]
    stored = next(r for r in list_runs(bug_store, spec.name) if r.id == run.run_id)
    assert stored.status == "insufficient_data" and stored.rows_current == run.rows
    assert stored.dataset_drift is None and stored.drift_share is None


# -- a run fed a window profile ------------------------------------------------------------


def _window_profile(store: Store, spec: ModelSpec, baseline: Baseline, end: datetime) -> Any:
    """The window's profile on the baseline's reference bins, as `driftline profile
    window` writes it (the model and the window recorded)."""
    from driftline.lifecycle.baseline import reference_profile
    from driftline.monitoring.profiles import profile_frame
    from driftline.monitoring.windowprofile import WindowProfile

    start, end = window_bounds(spec.monitoring, end)
    kinds = spec.column_types_with_prediction
    rows = read_window(store, spec, start, end)
    columns = profile_frame(rows, kinds, reference_profile(baseline, kinds))
    return WindowProfile(columns, "window.json", model=spec.name, window=(start, end))


def test_a_window_profile_gives_the_row_based_native_verdicts(
    bug_store: Store, mspec: ModelSpec
) -> None:
    """The pipeline bug seen through the window's profile: the same per-column verdicts,
    quality rules and decision as the native engine on the rows; recorded, with what the
    profile could not show (segments, multivariate: on in this spec) in the reasons."""
    from driftline.monitoring.engines import ENGINES

    sim = scenario("pipeline_bug")
    day = event_start(sim)
    on = {"segments": {"enabled": True}, "multivariate": {"enabled": True}}
    spec = with_monitoring(mspec, **{**mspec.monitoring.model_dump(mode="json"), **on})
    baseline = baseline_from(sim, spec)
    profile = _window_profile(bug_store, spec, baseline, end_of(day))
    fed = run_monitor(bug_store, spec, baseline, profile=profile)  # the profile's window
    rows = run_monitor(bug_store, mspec, baseline, end_of(day), engine=ENGINES.get("native"))
    assert fed.error is None and rows.error is None and fed.run_id is not None
    assert (fed.window_start, fed.window_end, fed.rows) == (
        rows.window_start,
        rows.window_end,
        rows.rows,
    )

    def verdicts(run: Any) -> list[tuple[str, str, bool]]:
        return [
            (c.name, c.method, c.drifted) for c in (*run.result.columns, *run.result.predictions)
        ]

    assert verdicts(fed) == verdicts(rows)
    assert set(fed.decision.drifted_columns) == event_columns(sim)
    assert {(q.column, q.rule) for q in fed.result.quality} == {
        (q.column, q.rule) for q in rows.result.quality
    }
    assert (fed.status, fed.action, fed.decision.severity) == ("drift", "alert", "high")
    reasons = " | ".join(fed.decision.reasons)
    for said in ("checked from the window profile window.json", "segment drift not checked"):
        assert said in reasons
    assert "multivariate drift not checked" in reasons and "no Evidently report" in reasons
    assert fed.result.segments is None and fed.report_paths == ()
    stored = next(r for r in list_runs(bug_store, spec.name) if r.id == fed.run_id)
    assert (stored.status, stored.rows_current, stored.reasons) == (
        "drift",
        fed.rows,
        list(fed.decision.reasons),
    )
    few = run_monitor(bug_store, with_monitoring(spec, min_rows=50_000), baseline, profile=profile)
    assert (few.status, few.result) == ("insufficient_data", None)


def test_a_window_profile_that_does_not_fit_records_nothing(
    bug_store: Store, mspec: ModelSpec
) -> None:
    """Another model's or window's profile, a column missing or of another kind, bins of
    another reference, a method the native engine refuses: ProfileError, nothing recorded.
    A profile of no rows is a failed run, like an empty window."""
    from driftline.config.errors import ProfileError
    from driftline.monitoring.profiles import profile_frame

    sim = scenario("pipeline_bug")
    baseline = baseline_from(sim, mspec)
    end = end_of(2)
    profile = _window_profile(bug_store, mspec, baseline, end)
    kinds = mspec.column_types_with_prediction
    rows = read_window(bug_store, mspec, *window_bounds(mspec.monitoring, end))
    elsewhere = profile_frame(rows, kinds, profile_frame(window(sim, 3), kinds))
    columns = dict(profile.columns)
    lacking = {c: p for c, p in columns.items() if c != "channel"}
    clash = {**columns, "channel": columns["recency_days"]}
    cases = [
        (replace(profile, model="churn"), end, "a profile of model 'churn', not"),
        (profile, end_of(3), "holds the window 2026-09-03 00:00 to 2026-09-04 00:00 UTC, not"),
        (replace(profile, window=None), None, "does not say which window it holds"),
        (replace(profile, columns=lacking), end, "no profile of columns ['channel']"),
        (replace(profile, columns=clash), end, "channel (numerical in the profile"),
        (
            replace(profile, columns=elsewhere, version="7"),
            end,
            "binned on other edges than the reference profile of purchase_propensity's "
            "champion, version 1 (it was binned on version 7's",
        ),
    ]
    before = len(list_runs(bug_store, mspec.name))
    for given, window_end, message in cases:
        with pytest.raises(ProfileError, match=re.escape(message)):
            run_monitor(bug_store, mspec, baseline, window_end, profile=given)
    refused = with_monitoring(
        mspec, drift={"engine": "evidently", "columns": {"recency_days": {"method": "anderson"}}}
    )
    with pytest.raises(ProfileError, match="A window profile is tested by the native engine"):
        run_monitor(bug_store, refused, baseline, end, profile=profile)
    assert len(list_runs(bug_store, mspec.name)) == before
    empty = profile_frame(rows.head(0), kinds, profile.columns)
    run = run_monitor(bug_store, mspec, baseline, profile=replace(profile, columns=empty))
    assert run.status == "failed" and "counts no rows" in (run.error or "")


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
    record_alert(store, broken.run_id, "alert-1")  # its alert was queued in the outbox
    past = history(store, mspec.name, since=end_of(0), before=end_of(9))
    assert [(p.status, p.quality_ok, p.alerted) for p in past] == [
        ("drift", False, True),
        ("ok", True, False),
    ]
