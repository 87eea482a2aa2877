"""customer_ltv (a regression, labels 365 days after the prediction) through retrain-model
and monitor-model under the session's Prefect test harness, with real MLflow and a
SQLite store: a linear bootstrap champion, a better (lower MAE) gradient-boosting
challenger promoted and a worse one rejected, and realized performance of a whole matured
weekly cohort that never counts a censored label."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml
from driftline.flows.monitor import monitor_model_flow
from driftline.flows.retrain import retrain_model

from driftline.config.settings import Settings
from driftline.data import ingest
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.data.windows import performance_window
from driftline.devtools.simulate import Simulation, simulate_customer_ltv
from driftline.lifecycle.promotion import PromotionOutcome
from driftline.lifecycle.registry import Registry
from driftline.monitoring.runs import list_runs
from driftline.specs import find_spec
from tests.lifecycle_data import assert_png

REPO_SPEC = Path(__file__).resolve().parents[2] / "monitors" / "customer_ltv.yaml"
KEY = "r" * 32
START = date(2026, 9, 1)
AS_OF = pd.Timestamp("2026-09-11T00:00:00Z")  # the data clock when the team trains
TRAINED_UNTIL = AS_OF - pd.Timedelta(days=365)  # matured: training and holdout end here
CENSORED = 40  # predictions whose 12 months are not over, given an early (partial) value

pytestmark = pytest.mark.slow


#: A heavily regularised GLM: on the test's thousand rows it is clearly worse than the
#: gradient boosting (MAE about 419 against 376 on the benchmark window).
STIFF_LINEAR = ("linear_regression", {"alpha": 100.0})
BOOSTING = ("hist_gradient_boosting", {})


def _write_spec(folder: Path, trainer: tuple[str, dict[str, float]]) -> None:
    data = yaml.safe_load(REPO_SPEC.read_text())
    data["model"]["name"] = "ltv"
    data["training"].update(trainer=trainer[0], params=trainer[1], lookback_days=14, holdout_days=5)
    data["monitoring"]["min_rows"] = 50
    data["promotion"].update(
        min_primary_metric=480.0,
        non_inferiority_margin=15.0,
        min_segment_rows=2000,
        max_ece=1.0,
    )
    (folder / "ltv.yaml").write_text(yaml.safe_dump(data))


def _world() -> Simulation:
    return simulate_customer_ltv("stable", days=22, rows_per_day=100, seed=3, history_days=385)


#: The monitored window's end, and the weekly cohort it judges: 365 days earlier is Monday
#: 2025-09-22, so the week 2025-09-15 to 2025-09-22 (W38), after every training window.
WINDOW_END = pd.Timestamp("2026-09-22T00:00:00Z")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """History up to the data clock of the training (logged before any model existed)."""
    root = tmp_path_factory.mktemp("regression-flow")
    specs = root / "monitors"
    specs.mkdir()
    _write_spec(specs, STIFF_LINEAR)
    settings = Settings(home=root / "home", specs_dir=specs, pseudonym_key=KEY)
    store = Store.from_settings(settings)
    sim = _world()
    spec = find_spec("ltv", specs)
    trained_on = sim.predictions[sim.predictions["event_ts"] < TRAINED_UNTIL]
    ingest.log_predictions(store, spec, trained_on, Pseudonymizer(KEY.encode()))
    labels = sim.labels[sim.labels["request_id"].isin(trained_on["request_id"])]
    ingest.log_labels(store, spec, labels[labels["labelled_at"] <= AS_OF])
    store.dispose()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DRIFTLINE_HOME", str(settings.home))
        mp.setenv("DRIFTLINE_SPECS_DIR", str(specs))
        mp.setenv("DRIFTLINE_PSEUDONYM_KEY", KEY)
        mp.delenv("DRIFTLINE_SLACK_WEBHOOK_URL", raising=False)
        mp.delenv("DRIFTLINE_WEBHOOK_URL", raising=False)
        yield settings


def _serve_the_champion(settings: Settings, version: str) -> tuple[int, int]:
    """Log everything after the training data as scored by ``version``, with the values
    that had matured by the monitored window's end, plus running (censored) values of the
    first predictions after the judged cohort. Returns the cohort's rows and how many
    censored labels were logged."""
    sim = _world()
    spec = find_spec("ltv", settings.specs_dir)
    store = Store.from_settings(settings)
    try:
        served = sim.predictions[sim.predictions["event_ts"] >= TRAINED_UNTIL]
        pseudo = Pseudonymizer(KEY.encode())
        ingest.log_predictions(store, spec, served, pseudo, model_version=version)
        labels = sim.labels[sim.labels["request_id"].isin(served["request_id"])]
        matured = labels[labels["labelled_at"] <= WINDOW_END]
        cohort = performance_window(spec, WINDOW_END.to_pydatetime())
        after = served[served["event_ts"] >= cohort.end].head(CENSORED)
        early = labels[labels["request_id"].isin(after["request_id"])].assign(
            labelled_at=WINDOW_END - pd.Timedelta(days=1)
        )
        assert (early["labelled_at"] < after["event_ts"].to_numpy() + pd.Timedelta(days=365)).all()
        ingest.log_labels(store, spec, pd.concat([matured, early], ignore_index=True))
    finally:
        store.dispose()
    ts, consent = served["event_ts"], served["consent_analytics"]
    in_cohort = (ts >= cohort.start) & (ts < cohort.end)
    return int((in_cohort & consent).sum()), len(early)


def _assert_regression_pictures(home: Settings, outcome: PromotionOutcome, tmp: Path) -> None:
    """Predicted vs actual and decile calibration, PNG artifacts of the benchmark run,
    and inline in the gate report's Prefect artifact."""
    from prefect.artifacts import Artifact

    assert outcome.report is not None and outcome.report.benchmark_run_id
    registry = Registry.from_settings(home)
    folder = Path(
        registry.client.download_artifacts(outcome.report.benchmark_run_id, "figures", str(tmp))
    )
    assert {p.stem for p in folder.iterdir()} == {"predicted-vs-actual", "calibration", "segments"}
    for path in folder.iterdir():
        assert_png(path.read_bytes())
    artifact = Artifact.get("gate-report-ltv")
    assert artifact is not None
    assert "![predicted vs actual](data:image/png;base64," in artifact.data
    assert "![calibration](data:image/png;base64," in artifact.data


def test_ltv_champion_is_replaced_only_by_a_lower_mae_and_judged_on_matured_cohorts(
    home: Settings, tmp_path: Path
) -> None:
    first = retrain_model(model="ltv", reason="bootstrap", as_of=AS_OF.isoformat())
    assert isinstance(first, PromotionOutcome)
    assert first.status == "promoted", first.reason

    # A gradient-boosting challenger on the same data: lower MAE, promoted by the gates
    # that read "lower is better".
    _write_spec(home.specs_dir, BOOSTING)
    better = retrain_model(model="ltv", reason="manual", as_of=AS_OF.isoformat())
    assert better.status == "promoted", better.reason
    assert better.report is not None
    improvement = better.report.gate("improvement")
    assert improvement.status == "passed"
    assert improvement.observed is not None and improvement.observed < 0  # MAE went down
    assert better.report.calibration  # the decile tables travel with the report
    _assert_regression_pictures(home, better, tmp_path)

    # The stiff linear model again, now against the better champion: its MAE is higher.
    _write_spec(home.specs_dir, STIFF_LINEAR)
    worse = retrain_model(model="ltv", reason="manual", as_of=AS_OF.isoformat())
    assert worse.status == "rejected", worse.reason
    assert worse.report is not None and worse.report.gate("improvement").status == "failed"
    assert "lower is better" in worse.report.gate("improvement").reason

    in_cohort, censored = _serve_the_champion(home, "2")
    assert censored == CENSORED
    summary = monitor_model_flow(model="ltv", window_end=WINDOW_END.isoformat())
    assert summary["status"] in ("ok", "drift"), summary["reasons"]
    spec = find_spec("ltv", home.specs_dir)
    cohort = performance_window(spec, WINDOW_END.to_pydatetime())
    assert cohort.cohort == "2025-W38"
    assert summary["realized_cohort"] == "2025-W38"
    assert set(summary["realized"]) == {"mae", "rmse", "wape", "gini"}
    assert summary["realized_version"] == "2"

    # Exactly the cohort's (consenting) predictions count: never the censored values,
    # which belong to predictions made after the cohort ended.
    store = Store.from_settings(home)
    try:
        run = list_runs(store, "ltv", limit=1)[0]
    finally:
        store.dispose()
    assert run.realized is not None and run.realized.cohort == "2025-W38"
    assert run.realized.labelled_rows == in_cohort
    assert any(r.startswith("cohort 2025-W38: realized mae") for r in run.reasons)
