"""Estimated performance through a real monitor run: a champion trained and promoted in a
real MLflow registry (its CBPE estimator stored with the baseline), serving predictions
it scored itself through a channel shift, monitored window by window on SQLite; and a
lasting estimated drop starting a retrain (``performance.estimated.retrain``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from driftline.config.settings import Settings
from driftline.data import ingest
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.devtools.simulate import simulate
from driftline.lifecycle.promotion import promote
from driftline.lifecycle.registry import Registry
from driftline.lifecycle.training import train
from driftline.monitoring.monitor import run_monitor
from driftline.monitoring.policy import ESTIMATED_DROP, LASTING_ESTIMATED_DROP
from driftline.monitoring.runs import list_runs
from driftline.specs import ModelSpec, load_spec
from driftline.tasks import task_for
from tests.conftest import Cli, cli_runner
from tests.lifecycle_data import variant

SPECS_DIR = Path(__file__).resolve().parents[2] / "monitors"
KEY = "e" * 32
DAYS, CHAMPION_DAY, SHIFT_DAY = 34, 22, 23


@dataclass
class Served:
    settings: Settings
    store: Store
    spec: ModelSpec
    start: pd.Timestamp


def _spec() -> ModelSpec:
    base = load_spec(SPECS_DIR / "purchase_propensity.yaml")
    spec = variant(base, "pp_estimated")
    monitoring = spec.monitoring.model_copy(
        update={
            "prediction_drift": spec.monitoring.prediction_drift.model_copy(
                update={"enabled": False}
            ),
            "performance": spec.monitoring.performance.model_copy(
                update={"window": pd.Timedelta(days=1).to_pytimedelta()}
            ),
        }
    )
    return spec.model_copy(update={"monitoring": monitoring})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Days before CHAMPION_DAY logged without a model version (the simulator's score),
    a champion trained and promoted at CHAMPION_DAY, then every later prediction scored
    by the champion and logged with its version; paid-social newcomers grow from
    SHIFT_DAY on (covariate shift only). Labels arrive 7 days after each visit."""
    root = tmp_path_factory.mktemp("estimated")
    specs = root / "monitors"
    specs.mkdir()
    data = _spec().model_dump(mode="json", exclude={"source"})
    (specs / "pp_estimated.yaml").write_text(yaml.safe_dump(data))
    spec = load_spec(specs / "pp_estimated.yaml")  # what the CLI reads too
    settings = Settings(home=root / "home", specs_dir=specs, pseudonym_key=KEY)
    store = Store.from_settings(settings)
    registry = Registry.from_settings(settings)
    pseudonymizer = Pseudonymizer(KEY.encode())
    sim = simulate("channel_shift", days=DAYS, rows_per_day=1000, seed=4, change_day=SHIFT_DAY)
    start = pd.Timestamp(sim.timeline["start"])
    at = start + pd.Timedelta(days=CHAMPION_DAY)
    before = sim.predictions["event_ts"] < at
    ingest.log_predictions(store, spec, sim.predictions[before], pseudonymizer)
    ingest.log_labels(store, spec, sim.labels)
    train(store, registry, spec, as_of=at, triggered_by="test")
    assert promote(store, registry, spec, as_of=at, triggered_by="test").promoted
    champion = registry.load_model(spec, "1").estimator
    later = sim.predictions[~before].copy()
    task = task_for(spec.model)
    later[spec.model.prediction] = task.score(champion, later[list(spec.model.features.all)])
    ingest.log_predictions(store, spec, later, pseudonymizer, model_version=1)
    try:
        yield Served(settings, store, spec, start)
    finally:
        store.dispose()


def test_the_baseline_keeps_a_cbpe_estimator_as_json(served: Served) -> None:
    baseline = Registry.from_settings(served.settings).read_baseline(served.spec, "1")
    assert baseline.estimator is not None
    assert baseline.estimator["method"] == "cbpe"
    assert baseline.estimator["calibration"]["kind"] in {"isotonic", "platt"}
    assert set(baseline.estimator["sampling"]) == {"roc_auc", "pr_auc", "accuracy"}


def test_monitor_runs_store_estimates_that_track_the_realized_metrics(served: Served) -> None:
    """Windows after the shift: each run estimates the window (no labels yet) and the
    labelled window of a week earlier, whose realized ROC AUC lies in the band."""
    registry = Registry.from_settings(served.settings)
    baseline = registry.read_baseline(served.spec, "1")
    inside = []
    for k in range(DAYS - 3, DAYS):
        end = (served.start + pd.Timedelta(days=k)).to_pydatetime()
        run = run_monitor(served.store, served.spec, baseline, end)
        assert run.error is None, run.error
        assert run.result is not None and run.result.estimated is not None
        est = run.result.estimated
        assert est.method == "cbpe" and est.version == "1"
        assert est.lower["roc_auc"] < est.metrics["roc_auc"] < est.upper["roc_auc"]
        matured = run.result.estimated_labelled
        assert matured is not None and set(matured.realized) == {"roc_auc", "pr_auc"}
        inside.append(matured.covers("roc_auc") and matured.covers("pr_auc"))
        assert any(r.startswith("estimated roc_auc") for r in run.decision.reasons)
    assert sum(inside) >= len(inside) - 1, inside
    stored = list_runs(served.store, served.spec.name, limit=1)[0]
    assert stored.estimated_window == run.result.estimated
    assert stored.estimated_labelled == run.result.estimated_labelled


def test_history_shows_the_estimate_beside_the_realized_value(
    served: Served, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DRIFTLINE_HOME", str(served.settings.home))
    monkeypatch.setenv("DRIFTLINE_SPECS_DIR", str(served.settings.specs_dir))
    monkeypatch.setenv("DRIFTLINE_PSEUDONYM_KEY", KEY)
    cli: Cli = cli_runner(monkeypatch, capsys)
    end = (served.start + pd.Timedelta(days=DAYS)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    code, text = cli("monitor", "run", "-m", "pp_estimated", "--window-end", end, "--no-alert")
    assert code == 0, text
    flat = " ".join(text.split())
    assert "estimated performance (cbpe, no labels)" in flat
    assert "labelled window" in flat and "realized" in flat
    code, text = cli("monitor", "history", "-m", "pp_estimated", "--json")
    assert code == 0, text
    assert '"estimated"' in text and '"labelled"' in text


def test_the_dashboard_snapshot_carries_the_estimate_and_the_realized_value(
    served: Served, tmp_path: Path
) -> None:
    """The run adds a snapshot whose MeanValue series are what the estimate panels of
    dashboards/default.yaml plot."""
    from driftline.ops.dashboards import load_dashboard, open_workspace

    baseline = Registry.from_settings(served.settings).read_baseline(served.spec, "1")
    end = (served.start + pd.Timedelta(days=DAYS - 1)).to_pydatetime()
    run = run_monitor(served.store, served.spec, baseline, end, workspace_dir=tmp_path / "ws")
    assert run.result is not None and run.project_id is not None
    workspace = open_workspace(tmp_path / "ws")
    values = {  # the run's snapshots: drift, performance, estimate, guides
        r.metric_value_location.metric.params["column"]: r.value
        for snapshot_id in run.snapshot_ids
        for r in workspace.get_run(run.project_id, snapshot_id).metric_results.values()
        if str(r.metric_value_location.metric.params.get("column", "")).startswith(
            ("estimated_", "labelled_")
        )
    }
    est, matured = run.result.estimated, run.result.estimated_labelled
    assert est is not None and matured is not None
    assert values["estimated_roc_auc"] == pytest.approx(est.metrics["roc_auc"])
    assert values["estimated_roc_auc_lower"] == pytest.approx(est.lower["roc_auc"])
    assert values["labelled_realized_roc_auc"] == pytest.approx(matured.realized["roc_auc"])
    dashboard, _ = load_dashboard(SPECS_DIR.parent / "dashboards", served.spec.name)
    plotted = {
        v.labels["column"]
        for p in dashboard.panels_for("binary_classification")
        for v in p.values
        if v.metric == "MeanValue"
        and str(v.labels.get("column", "")).startswith(("estimated_", "labelled_"))
    }  # the estimate panels' series (guides and segments have snapshots of their own)
    assert plotted and plotted <= set(values)


def _acting_on_estimates(spec: ModelSpec) -> ModelSpec:
    """The served spec with input drift unable to count (drift share 1, no critical
    feature: only the estimate can ask), an estimated PR AUC drop beyond 0.01 that lasts
    3 of 4 windows asking for a retrain, and the fast native drift engine."""
    mon = spec.monitoring
    estimated = mon.performance.estimated.model_copy(
        update={"max_drop": {"pr_auc": 0.01}, "retrain": True}
    )
    persistence = mon.policy.persistence.model_copy(update={"required": 3, "of_last": 4})
    monitoring = mon.model_copy(
        update={
            "drift": mon.drift.model_copy(update={"engine": "native", "drift_share": 1.0}),
            "critical_features": [],
            "performance": mon.performance.model_copy(update={"estimated": estimated}),
            "policy": mon.policy.model_copy(update={"persistence": persistence}),
        }
    )
    return spec.model_copy(update={"monitoring": monitoring})


def test_a_lasting_estimated_drop_starts_a_retrain_on_data_after_it(served: Served) -> None:
    """Paid-social newcomers lower the champion's estimated PR AUC from the shift on. The
    first windows with the drop alert at medium; once it lasted, the wish to retrain is
    high (reason drift), held by the champion's grace (promoted on day 22, 7-day cooldown),
    then pending until labelled rows after the drop's first window have matured (labels
    arrive 7 days late), and the retrain starts on them: the change point is the first
    window of the lasting estimated drop, located on the real store's history."""
    baseline = Registry.from_settings(served.settings).read_baseline(served.spec, "1")
    spec = _acting_on_estimates(served.spec)
    promoted = (served.start + pd.Timedelta(days=CHAMPION_DAY)).to_pydatetime()
    days = range(SHIFT_DAY, 32)
    decisions = {}
    for k in days:
        end = (served.start + pd.Timedelta(days=k)).to_pydatetime()
        run = run_monitor(served.store, spec, baseline, end, promoted_at=promoted)
        assert run.error is None, run.error
        decisions[k] = run.decision
    dropped = [k for k in days if ESTIMATED_DROP in decisions[k].triggers]
    wished = [k for k in days if LASTING_ESTIMATED_DROP in decisions[k].triggers]
    assert dropped and wished and dropped[0] < wished[0]
    for k in dropped[: dropped.index(wished[0])]:
        assert (decisions[k].action, decisions[k].severity) == ("alert", "medium")
    for k in wished:
        assert decisions[k].severity == "high" and decisions[k].retrain_reason == "drift"
        assert not decisions[k].input_drift
    assert "cooldown" in decisions[wished[0]].triggers  # the champion's grace
    onset = (served.start + pd.Timedelta(days=dropped[0] - 1)).to_pydatetime()
    pending = [k for k in wished if "retrain_pending" in decisions[k].triggers]
    assert pending, {k: decisions[k].triggers for k in wished}
    for k in pending:
        assert decisions[k].action == "alert" and decisions[k].change_point == onset
        assert any(
            "the first window of the lasting estimated drop" in r for r in decisions[k].reasons
        )
    last = decisions[days[-1]]
    assert (last.action, last.retrain_reason, last.change_point) == ("retrain", "drift", onset)
    stored = next(
        r for r in list_runs(served.store, spec.name, limit=50) if r.decision == "retrain"
    )
    assert (stored.retrain_reason, stored.change_point) == ("drift", onset)
    assert LASTING_ESTIMATED_DROP in stored.triggers
