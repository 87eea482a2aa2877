"""The regression task (driftline.tasks.regression): metrics against scikit-learn's own
functions on fixed data, the bootstrap, spec options, bad input, direction-aware gates and
realized performance, cohorts of long label delays, strata, trainers and the Evidently
performance snapshot."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_tweedie_deviance,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from driftline.config.errors import DataError, SpecError
from driftline.data import ingest
from driftline.data.ingest import prepare_labels, prepare_predictions
from driftline.data.privacy import Pseudonymizer
from driftline.data.store import Store
from driftline.data.windows import performance_window
from driftline.lifecycle.baseline import stratified_sample
from driftline.lifecycle.gates import evaluate_gates
from driftline.lifecycle.results import BenchmarkResult, ModelScore, SegmentScore
from driftline.monitoring.results import RealizedPerformance
from driftline.specs import ModelSpec, PromotionSection, load_spec, parse_spec
from driftline.tasks import TASKS, task_for
from driftline.tasks.regression import (
    calibration_error,
    calibration_table,
    normalized_gini,
    paired_bootstrap,
    regression_metrics,
)

from ..conftest import SPECS_DIR

LTV_FILE = SPECS_DIR / "customer_ltv.yaml"
Y = np.array([0.0, 0.0, 0.4, 12.0, 35.5, 80.0, 150.0, 410.0, 1200.0, 3000.0])
P = np.array([5.0, 1.0, 2.0, 20.0, 30.0, 60.0, 170.0, 300.0, 900.0, 2500.0])


@pytest.fixture(scope="module")
def ltv() -> ModelSpec:
    return load_spec(LTV_FILE)


def _raw() -> dict[str, Any]:
    return yaml.safe_load(LTV_FILE.read_text())


# -- metrics --------------------------------------------------------------------------------


def test_error_metrics_are_scikit_learns() -> None:
    m = regression_metrics(Y, P)
    assert m["mae"] == pytest.approx(mean_absolute_error(Y, P))
    assert m["rmse"] == pytest.approx(root_mean_squared_error(Y, P))
    assert m["r2"] == pytest.approx(r2_score(Y, P))
    assert m["wape"] == pytest.approx(np.abs(Y - P).sum() / np.abs(Y).sum())
    assert (m["rows"], m["mean_actual"]) == (10.0, pytest.approx(Y.mean()))


@pytest.mark.parametrize("power", [0.0, 1.0, 1.5])
def test_deviance_is_scikit_learns_tweedie_deviance(power: float) -> None:
    assert regression_metrics(Y, P, power=power)["deviance"] == pytest.approx(
        mean_tweedie_deviance(Y, P, power=power)
    )


def test_gamma_deviance_is_undefined_on_zero_values_and_a_zero_prediction_is_floored() -> None:
    assert np.isnan(regression_metrics(Y, P, power=2.0)["deviance"])
    positive = Y + 1
    assert regression_metrics(positive, P, power=2.0)["deviance"] == pytest.approx(
        mean_tweedie_deviance(positive, P, power=2.0)
    )
    zero = P.copy()
    zero[0] = 0.0  # Poisson deviance is undefined at a prediction of 0: floored at 1e-6
    floored = zero.copy()
    floored[0] = 1e-6
    assert regression_metrics(Y, zero, power=1.5)["deviance"] == pytest.approx(
        mean_tweedie_deviance(Y, floored, power=1.5)
    )


def test_mape_near_zero_uses_the_floor_where_scikit_learns_explodes() -> None:
    y = np.array([0.0, 0.5, 10.0, 20.0])
    p = np.array([1.0, 1.0, 12.0, 18.0])
    # |0-1|/1, |0.5-1|/1, 2/10, 2/20 with a floor of 1
    assert regression_metrics(y, p, mape_floor=1.0)["mape"] == pytest.approx(0.45)
    assert mean_absolute_percentage_error(y, p) > 1e14  # divides by machine epsilon
    # Where every |y| is above the floor it is scikit-learn's MAPE exactly.
    assert regression_metrics(y[2:], p[2:])["mape"] == pytest.approx(
        mean_absolute_percentage_error(y[2:], p[2:])
    )
    tiny = np.finfo(float).eps
    assert regression_metrics(y, p, mape_floor=tiny)["mape"] == pytest.approx(
        mean_absolute_percentage_error(y, p)
    )


def test_normalized_gini_of_a_zero_one_label_is_twice_the_auc_minus_one() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.3).astype(float)
    p = np.round(rng.random(400) + 0.3 * y, 1)  # rounded: ties share credit
    assert normalized_gini(y, p) == pytest.approx(2 * roc_auc_score(y, p) - 1)


def test_normalized_gini_is_one_for_the_perfect_ranking_and_minus_one_reversed() -> None:
    assert normalized_gini(Y, Y * 3 + 1) == pytest.approx(1.0)
    assert normalized_gini(Y, -Y) == pytest.approx(-1.0)
    assert normalized_gini(Y, np.ones_like(Y)) == pytest.approx(0.0)
    assert np.isnan(regression_metrics(np.ones(5), np.arange(5.0))["gini"])


def test_decile_calibration_table_and_error() -> None:
    y = np.arange(100.0)
    table = calibration_table(y, y)
    assert [r["decile"] for r in table] == list(range(1, 11))
    assert table[0]["mean_predicted"] == table[0]["mean_actual"] == pytest.approx(4.5)
    assert calibration_error(y, y) == 0
    # Predicting twice the value: every decile's gap is its mean, so the error is 1.
    assert calibration_error(y, 2 * y) == pytest.approx(1.0)
    assert regression_metrics(y, 2 * y)["calibration_error"] == pytest.approx(1.0)


# -- the paired bootstrap ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "power", "fn"),
    [
        ("mae", 0.0, mean_absolute_error),
        ("rmse", 0.0, root_mean_squared_error),
        ("r2", 0.0, r2_score),
        ("deviance", 1.5, lambda y, p: mean_tweedie_deviance(y, p, power=1.5)),
        ("deviance", 1.0, lambda y, p: mean_tweedie_deviance(y, p, power=1.0)),
        ("gini", 0.0, normalized_gini),
    ],
)
def test_bootstrap_point_is_the_metric_difference(metric: str, power: float, fn: Any) -> None:
    worse = P * 1.4 + 3
    boot = paired_bootstrap(Y, P, worse, metric=metric, samples=300, power=power)
    assert boot.diff == pytest.approx(fn(Y, P) - fn(Y, worse))
    assert boot.ci_low <= boot.ci_high


def test_bootstrap_of_a_clearly_lower_error_lies_below_zero() -> None:
    rng = np.random.default_rng(1)
    y = rng.gamma(1.0, 100.0, 2000)
    good, bad = y + rng.normal(0, 10, 2000), y + rng.normal(0, 60, 2000)
    boot = task_for(load_spec(LTV_FILE).model).paired_bootstrap(
        y, good, bad, metric="mae", samples=500, confidence=0.95, seed=0
    )
    assert boot.ci_high < 0
    with pytest.raises(ValueError, match="bootstrap supports"):
        paired_bootstrap(y, good, bad, metric="mape")


# -- spec options and bad input -------------------------------------------------------------


def test_ltv_spec_options_are_validated_by_the_task(ltv: ModelSpec) -> None:
    options = task_for(ltv.model).options
    assert options.prediction_range == (0.0, None)  # type: ignore[attr-defined]
    assert options.deviance_power == 1.5  # type: ignore[attr-defined]
    for bad, expected in [
        ({"deviance_power": 0.5}, "not a Tweedie power"),
        ({"prediction_range": [10, 0]}, "must be below the high end"),
        ({"mape_floor": 0}, "mape_floor"),
        ({"quantile": 0.9}, "quantile"),
    ]:
        data = _raw()
        data["model"]["task_options"] = bad
        with pytest.raises(SpecError, match=expected) as err:
            parse_spec(data, "monitors/customer_ltv.yaml")
        assert "task_options for task regression" in str(err.value)


def test_an_error_metric_needs_its_own_ceiling() -> None:
    data = _raw()
    del data["promotion"]["min_primary_metric"]
    with pytest.raises(SpecError, match=r"promotion.min_primary_metric: mae is an error"):
        parse_spec(data)
    data["promotion"]["primary_metric"] = "gini"  # higher is better: the floor default holds
    assert parse_spec(data).promotion.min_primary_metric == 0.55


def _batch(ltv: ModelSpec, rows: int = 6) -> pd.DataFrame:
    from driftline.devtools.simulate import simulate_customer_ltv

    return simulate_customer_ltv(days=1, rows_per_day=rows, seed=5).predictions.head(rows).copy()


def test_a_non_finite_or_negative_ltv_is_refused_naming_rows_and_column(
    ltv: ModelSpec, store: Store
) -> None:
    batch = _batch(ltv)
    batch.loc[1, "ltv_score"] = np.inf
    batch.loc[3, "ltv_score"] = -12.5
    with pytest.raises(DataError) as err:
        ingest.log_predictions(store, ltv, batch, Pseudonymizer(b"k" * 32), source="day 9")
    text = str(err.value)
    assert "'ltv_score'" in text and "are infinite" in text
    assert "outside the prediction_range [0, inf]" in text
    assert "are infinite (rows 2)" in text and "(rows 4)" in text
    table = f"dl_pred_{ltv.name}"
    if sa.inspect(store.engine).has_table(table):
        with store.engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar() == 0


def test_a_non_finite_or_negative_value_label_is_refused(ltv: ModelSpec) -> None:
    labels = pd.DataFrame(
        {"request_id": ["a", "b", "c", "d"], "value_12m": [10.0, np.inf, -3.0, np.nan]}
    )
    with pytest.raises(DataError) as err:
        prepare_labels(ltv, labels, "labels.csv")
    text = str(err.value)
    assert "'value_12m'" in text and "not finite numbers" in text
    assert "are negative, which the Tweedie deviance of power 1.5" in text
    ok = prepare_labels(ltv, labels.iloc[[0]], "labels.csv")
    assert ok["label"].tolist() == [10.0]


def test_a_value_above_one_is_a_valid_ltv(ltv: ModelSpec) -> None:
    batch = _batch(ltv)
    batch["ltv_score"] = 412.5
    assert (prepare_predictions(ltv, batch, "day 3")["ltv_score"] == 412.5).all()


# -- direction: gates and realized performance ------------------------------------------------


def _score(version: str, mae: float) -> ModelScore:
    metrics = dict.fromkeys(TASKS.get("regression").metrics, 0.1)
    metrics.update(mae=mae, gini=0.5)
    return ModelScore(version, metrics, 1e5, 1024, calibration=calibration_table(Y, P))


def _result(chal_mae: float, champ_mae: float, ci: tuple[float, float], seg: float) -> Any:
    segment = SegmentScore(
        "channel",
        "email",
        2000,
        1500,
        {"mae": chal_mae + seg},
        {"mae": champ_mae},
    )
    return BenchmarkResult(
        model="ltv",
        window_start="2026-10-01T00:00:00+00:00",
        window_end="2026-10-08T00:00:00+00:00",
        rows=5000,
        positives=3500,
        primary_metric="mae",
        challenger=_score("2", chal_mae),
        champion=_score("1", champ_mae),
        diff=chal_mae - champ_mae,
        ci_low=ci[0],
        ci_high=ci[1],
        confidence=0.95,
        bootstrap_samples=1000,
        segments=[segment],
        task="regression",
    )


LTV_POLICY = PromotionSection(
    primary_metric="mae",
    min_primary_metric=400.0,
    min_improvement=1.0,
    max_segment_regression=25.0,
    max_ece=0.5,
    max_calibration_increase=1.0,
)


def test_a_challenger_with_lower_mae_is_promoted() -> None:
    report = evaluate_gates(_result(300.0, 340.0, (-55.0, -25.0), seg=0.0), LTV_POLICY)
    assert report.passed, report.summary()
    assert report.gate("floor").reason == "mae 300.0000 is within the ceiling 400.0000"
    assert report.gate("improvement").observed == pytest.approx(-40.0)
    assert report.gate("improvement").threshold == -1.0
    assert report.gate("non_inferiority").observed == -25.0  # the upper bound counts
    assert "challenger v2" in report.calibration and "champion v1" in report.calibration
    assert "Calibration of challenger v2 by predicted decile" in report.to_markdown()


def test_a_challenger_with_higher_mae_is_rejected_whatever_its_sign_would_say() -> None:
    report = evaluate_gates(_result(360.0, 340.0, (5.0, 35.0), seg=0.0), LTV_POLICY)
    assert {g.name for g in report.failed} == {"improvement", "non_inferiority"}
    assert "needs at most -1.0000" in report.gate("improvement").reason
    assert "upper bound must be at most +0.0000" in report.gate("non_inferiority").reason


def test_floor_of_an_error_is_a_ceiling_and_a_segment_whose_error_rises_blocks() -> None:
    above = evaluate_gates(_result(420.0, 390.0, (20.0, 40.0), seg=0.0), LTV_POLICY)
    assert above.gate("floor").status == "failed"
    assert "is above the ceiling 400.0000" in above.gate("floor").reason
    # A champion that breaks the ceiling itself: the ceiling gives way to its own MAE.
    both = evaluate_gates(_result(420.0, 460.0, (-55.0, -25.0), seg=0.0), LTV_POLICY)
    assert both.gate("floor").status == "passed"
    assert "gives way to the champion's own value" in both.gate("floor").reason
    worse = evaluate_gates(_result(470.0, 460.0, (5.0, 15.0), seg=0.0), LTV_POLICY)
    assert worse.gate("floor").status == "failed"
    segment = evaluate_gates(_result(300.0, 340.0, (-55.0, -25.0), seg=70.0), LTV_POLICY)
    gate = segment.gate("segments")
    assert gate.status == "failed" and gate.observed == pytest.approx(30.0)
    assert gate.threshold == 25.0
    fine = evaluate_gates(_result(300.0, 340.0, (-55.0, -25.0), seg=60.0), LTV_POLICY)
    assert fine.gate("segments").status == "passed"  # +20 MAE is within +25


def test_realized_drop_follows_each_metrics_direction() -> None:
    perf = RealizedPerformance(
        900,
        700,
        {"mae": 61.2, "gini": 0.40},
        {"mae": 38.9, "gini": 0.55},
        higher_is_better={"mae": False, "gini": True},
        cohort="2026-W35",
    )
    assert perf.drop("mae") == pytest.approx(22.3)  # the error rose: worse
    assert perf.drop("gini") == pytest.approx(0.15)
    assert perf.limit("mae", 10.0) == pytest.approx(48.9)
    assert RealizedPerformance.from_dict(perf.to_dict()) == perf
    old = RealizedPerformance.from_dict({"labelled_rows": 1, "positives": 1, "metrics": {}})
    assert old.cohort is None and old.higher("roc_auc")


def test_policy_reports_a_rising_mae_of_a_cohort_as_a_performance_drop(ltv: ModelSpec) -> None:
    from driftline.monitoring.policy import decide_action
    from driftline.monitoring.results import DriftResult

    perf = RealizedPerformance(
        900,
        700,
        {"mae": 61.2, "rmse": 90.0, "wape": 0.5, "gini": 0.5},
        {"mae": 18.9, "rmse": 80.0, "wape": 0.45, "gini": 0.52},
        version="1",
        higher_is_better={"mae": False, "rmse": False, "wape": False, "gini": True},
        cohort="2026-W35",
    )
    result = DriftResult((), 0.0, 0.3, False, None, (), perf, 1000, 1000, "evidently")
    decision = decide_action(
        result, ltv, [], window_end=datetime(2027, 9, 10), champion_version="1"
    )
    assert "performance_drop" in decision.triggers
    reason = next(r for r in decision.reasons if "mae" in r)
    assert reason.startswith("cohort 2026-W35: realized mae 61.200")
    assert "above the champion's validation 18.900" in reason


# -- long label delays: cohorts ----------------------------------------------------------------


def test_weekly_cohort_is_the_newest_whole_week_whose_horizon_has_elapsed(ltv: ModelSpec) -> None:
    end = datetime.fromisoformat("2027-09-10T00:00:00+00:00")  # a Friday
    window = performance_window(ltv, end)
    # 365 days earlier is Thursday 2026-09-10: the newest whole week before it is W36.
    assert window.cohort == "2026-W36"
    assert window.start.isoformat() == "2026-08-31T00:00:00+00:00"
    assert window.end.isoformat() == "2026-09-07T00:00:00+00:00"
    assert window.end <= end - pd.Timedelta(days=365)  # every label in it has matured


def test_monthly_cohort_and_the_rolling_window(ltv: ModelSpec) -> None:
    monthly = ltv.model_copy(
        update={
            "monitoring": ltv.monitoring.model_copy(
                update={
                    "performance": ltv.monitoring.performance.model_copy(update={"cohort": "month"})
                }
            )
        }
    )
    window = performance_window(monthly, datetime.fromisoformat("2027-09-10T00:00:00+00:00"))
    assert (window.cohort, window.start.isoformat()) == ("2026-08", "2026-08-01T00:00:00+00:00")
    assert window.end.isoformat() == "2026-09-01T00:00:00+00:00"
    rolling = load_spec(SPECS_DIR / "purchase_propensity.yaml")
    plain = performance_window(rolling, datetime.fromisoformat("2026-10-10T00:00:00+00:00"))
    assert plain.cohort is None
    assert plain.end.isoformat() == "2026-10-03T00:00:00+00:00"


# -- strata, trainers, Evidently ----------------------------------------------------------------


def test_baseline_is_stratified_by_target_quintiles_keeping_the_heavy_tail() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {"value_12m": rng.pareto(1.5, 20_000) * 100, "channel": rng.choice(["a", "b"], 20_000)}
    )
    keys = TASKS.get("regression").stratum_keys(frame, "value_12m", ["channel"])
    assert keys[0].nunique() == 5 and keys[1].nunique() == 2
    sample = stratified_sample(frame, keys, 1000, seed=0)
    top = frame["value_12m"].quantile(0.8)
    assert (sample["value_12m"] >= top).mean() == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize("trainer", ["hist_gradient_boosting", "linear_regression"])
def test_regression_trainers_fit_with_the_declared_skops_types(
    ltv: ModelSpec, trainer: str
) -> None:
    import skops.io

    from driftline.lifecycle.trainers import BASE_TRUSTED_TYPES, TRAINERS, train_function
    from driftline.lifecycle.training import feature_frame

    spec = ltv.model_copy(update={"training": ltv.training.model_copy(update={"trainer": trainer})})
    frame = _batch(spec, 300)
    frame["value_12m"] = np.random.default_rng(0).gamma(1.0, 100.0, len(frame))
    fitted = train_function(spec)(
        feature_frame(spec, frame).assign(value_12m=frame["value_12m"]), spec
    )
    predictions = task_for(spec.model).score(fitted, feature_frame(spec, frame))
    assert predictions.shape == (300,) and (predictions > 0).all()  # log link
    needed = set(skops.io.get_untrusted_types(data=skops.io.dumps(fitted)))
    assert needed <= set(BASE_TRUSTED_TYPES) | set(TRAINERS.get(trainer).trusted_types)


def test_hist_gradient_boosting_loss_follows_the_deviance_power(ltv: ModelSpec) -> None:
    from driftline.lifecycle.trainers.hist_gradient_boosting import regression_loss

    assert regression_loss(ltv) == "poisson"
    for power, loss in ((0.0, "squared_error"), (2.0, "gamma"), (3.0, "gamma")):
        options = {**ltv.model.task_options, "deviance_power": power}
        spec = ltv.model_copy(
            update={"model": ltv.model.model_copy(update={"task_options": options})}
        )
        assert regression_loss(spec) == loss


def test_evidently_performance_snapshot_uses_the_regression_definition() -> None:
    from driftline.monitoring.engines.evidently import _performance_snapshot

    frame = pd.DataFrame({"ltv_score": P, "value_12m": Y})
    snapshot = _performance_snapshot(frame, "ltv_score", "value_12m", None, [], task="regression")
    values = {
        m["config"]["type"].rsplit(":", 1)[-1]: m["value"] for m in snapshot.dict()["metrics"]
    }
    assert set(values) == {"MAE", "RMSE", "R2Score"}
    assert values["RMSE"] == pytest.approx(root_mean_squared_error(Y, P))
    assert values["R2Score"] == pytest.approx(r2_score(Y, P))


def test_the_default_dashboard_shows_each_task_its_own_performance_panels(
    ltv: ModelSpec,
) -> None:
    from driftline.ops.dashboards import load_dashboard, render_panels

    dashboard, _ = load_dashboard(SPECS_DIR.parent / "dashboards", ltv.name)
    binary = load_spec(SPECS_DIR / "purchase_propensity.yaml")
    titles = {p.title for p in render_panels(dashboard, ltv)}
    assert "Realized MAE and RMSE (labels matured)" in titles
    assert "Realized ROC AUC (labels matured)" not in titles
    binary_titles = {p.title for p in render_panels(dashboard, binary)}
    assert "Realized ROC AUC (labels matured)" in binary_titles
    assert "Realized MAE and RMSE (labels matured)" not in binary_titles
