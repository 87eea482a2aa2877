"""The multiclass next_category model through retrain-model and monitor-model under the
session's Prefect test harness, with a real MLflow registry and a SQLite store in a
temporary home. The simulated world has concept drift from day 21: customers' next
category changes while their features do not."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
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
from driftline.devtools.simulate import Simulation, simulate
from driftline.lifecycle.promotion import PromotionOutcome
from driftline.monitoring.runs import run_columns
from driftline.specs import find_spec

REPO_SPEC = Path(__file__).resolve().parents[2] / "monitors" / "next_category.yaml"
KEY = "n" * 32
DAYS, ROWS_PER_DAY, SEED = 42, 700, 3

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("multiclass-flows")
    specs = root / "monitors"
    specs.mkdir()
    data = yaml.safe_load(REPO_SPEC.read_text())
    data["training"].update(n_threads=1, lookback_days=14, holdout_days=7)
    data["promotion"]["bootstrap_samples"] = 200
    (specs / "next_category.yaml").write_text(yaml.safe_dump(data))
    settings = Settings(home=root / "home", specs_dir=specs, pseudonym_key=KEY)
    store = Store.from_settings(settings)
    spec = find_spec("next_category", specs)
    # Days before the champion: a bootstrap period, logged without a version.
    ingest.log_predictions(store, spec, _sim().predictions[~_served()], PSEUDO)
    ingest.log_labels(store, spec, _sim().next_category_labels)
    store.dispose()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DRIFTLINE_HOME", str(settings.home))
        mp.setenv("DRIFTLINE_SPECS_DIR", str(specs))
        mp.setenv("DRIFTLINE_PSEUDONYM_KEY", KEY)
        mp.delenv("DRIFTLINE_SLACK_WEBHOOK_URL", raising=False)
        mp.delenv("DRIFTLINE_WEBHOOK_URL", raising=False)
        yield settings


PSEUDO = Pseudonymizer(KEY.encode())


@lru_cache(maxsize=1)
def _sim() -> Simulation:
    return simulate("concept_drift", days=DAYS, rows_per_day=ROWS_PER_DAY, seed=SEED)


def _served() -> pd.Series:
    return _sim().predictions["event_ts"] >= pd.Timestamp(_day(28))


def _day(n: int) -> str:
    return f"2026-09-{1 + n:02d}T00:00:00Z" if n < 30 else f"2026-10-{n - 29:02d}T00:00:00Z"


def test_next_category_is_bootstrapped_monitored_and_retrained(home: Settings) -> None:
    first = retrain_model(
        model="next_category", reason="bootstrap", as_of=_day(28), return_state=True
    )
    assert first.name == "Promoted", first.message
    report = first.result().report
    assert report.primary_metric == "roc_auc_macro"
    assert report.gate("class_recall").status == "skipped"  # no champion yet
    # From day 28 the champion serves, and the app logs its version (as a serving app does).
    store = Store.from_settings(home)
    spec = find_spec("next_category", home.specs_dir)
    ingest.log_predictions(store, spec, _sim().predictions[_served()], PSEUDO, model_version=1)
    store.dispose()

    quiet = monitor_model_flow(model="next_category", window_end=_day(29), alert=False)
    assert quiet["decision"] in ("none", "alert"), quiet["reasons"]
    store = Store.from_settings(home)
    roles = {c.name: (c.role, c.type) for c in run_columns(store, quiet["run_id"])}
    store.dispose()
    assert roles["predicted_category"] == ("prediction", "categorical")
    assert roles["p_home"] == ("prediction", "numerical")
    # Day 38: the scored week (days 24-31) follows the new habits.
    drifted = monitor_model_flow(model="next_category", window_end=_day(38), alert=False)
    assert drifted["decision"] == "retrain", drifted["reasons"]
    assert "performance_drop" in drifted["triggers"]
    assert set(drifted["realized"]) == {"roc_auc_macro", "accuracy", "f1_macro"}

    html = sorted((home.reports_dir() / "next_category").glob("*-performance.html"))
    assert html, "the multiclass performance report was not written"

    outcome = retrain_model(model="next_category", reason="drift")
    assert isinstance(outcome, PromotionOutcome)
    gate = outcome.report.gate("class_recall")
    assert gate.status in ("passed", "failed") and "recall" in gate.reason
    assert outcome.status in ("promoted", "rejected"), outcome.reason
