"""The version that made each prediction, without a store: batch validation of
``model_version``, the drift check per version (score against its own version's reference,
realized performance against its own validation metrics), what the policy judges, and what
alerts and run summaries say about versions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftline.alerts.monitor_run import alert_for
from driftline.config.errors import DataError, SpecError
from driftline.data.ingest import prepare_predictions, registry_version
from driftline.data.store import MODEL_VERSION
from driftline.lifecycle.baseline import Baseline
from driftline.monitoring.check import check_drift
from driftline.monitoring.monitor import MonitorRun
from driftline.monitoring.policy import decide_action, insufficient_data
from driftline.monitoring.results import RealizedPerformance
from driftline.specs import ModelSpec, load_spec, parse_spec
from tests.simdata import baseline_from, labelled, scenario, window

SPEC_FILE = Path(__file__).resolve().parents[2] / "monitors" / "purchase_propensity.yaml"
END = datetime(2026, 9, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def mspec() -> ModelSpec:
    data = load_spec(SPEC_FILE).model_dump(exclude={"source"}, mode="json")
    data["monitoring"]["prediction_drift"] = {"enabled": True, "method": "ks"}
    return parse_spec(data)


def worse(scores: pd.Series, seed: int = 5) -> np.ndarray:
    """A weaker model's scores: half noise, so a lower ROC AUC and another distribution."""
    noise = np.random.default_rng(seed).uniform(0, 1, len(scores))
    return np.round((scores.to_numpy() + noise) / 2, 5)


def scored_by_v1(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["score"] = worse(out["score"])
    return out


def v1_baseline(spec: ModelSpec) -> Baseline:
    """Version 1 (the weaker model): its reference holds its own scores, its validation
    metrics are what it really achieves."""
    rows = scored_by_v1(labelled(scenario("stable", days=12), 0, 2))
    from sklearn.metrics import average_precision_score, roc_auc_score

    return Baseline(
        model=spec.name,
        version="1",
        reference=rows[[*spec.model.features.all, "score"]].reset_index(drop=True),
        schema=spec.column_types,
        metrics={
            "roc_auc": float(roc_auc_score(rows["purchased_7d"], rows["score"])),
            "pr_auc": float(average_precision_score(rows["purchased_7d"], rows["score"])),
        },
    )


# -- batches --------------------------------------------------------------------------------


def batch(n: int = 6) -> pd.DataFrame:
    return window(scenario("stable", days=12), 3).head(n).copy()


def test_the_version_column_is_read_as_registry_versions(mspec: ModelSpec) -> None:
    frame = batch()
    frame["model_version"] = ["4", " 4 ", "4.0", None, "", "12"]
    out = prepare_predictions(mspec, frame, "batch")
    assert out[MODEL_VERSION].tolist() == ["4", "4", "4", None, None, "12"]
    numbers = batch(3)
    numbers["model_version"] = [3, 3, 3]  # e.g. an integer column from Parquet
    assert prepare_predictions(mspec, numbers, "b")[MODEL_VERSION].tolist() == ["3", "3", "3"]
    assert prepare_predictions(mspec, batch(2), "b")[MODEL_VERSION].tolist() == [None, None]


def test_a_version_that_is_not_a_registry_number_rejects_the_batch(mspec: ModelSpec) -> None:
    frame = batch()
    frame["model_version"] = ["v4", "4", "latest", "0", "4.5", "4"]
    with pytest.raises(DataError, match=r"'model_version': 4 rows are not model registry versions"):
        prepare_predictions(mspec, frame, "preds.csv")
    with pytest.raises(DataError, match=r"rows 1, 3, 4, 5\)"):
        prepare_predictions(mspec, frame, "preds.csv")
    with pytest.raises(DataError, match=r"model_version='v4' is not a model registry version"):
        registry_version("v4", "batch")
    assert registry_version(7, "batch") == "7"


def test_the_spec_may_name_the_version_column(mspec: ModelSpec) -> None:
    data = mspec.model_dump(exclude={"source"}, mode="json")
    data["model"]["model_version"] = "scored_by"
    spec = parse_spec(data)
    frame = batch(2)
    frame["scored_by"] = ["5", "5"]
    frame["model_version"] = ["x", "y"]  # not the spec's column: ignored
    assert prepare_predictions(spec, frame, "b")[MODEL_VERSION].tolist() == ["5", "5"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: m.update(model_version="score"), "already used by another column"),
        (lambda m: m.update(model_version="model version"), "plain identifier"),
        (
            lambda m: m["features"]["numerical"].append("model_version"),
            r"\['model_version'\] are reserved",
        ),
    ],
)
def test_the_version_column_must_not_clash(mspec: ModelSpec, change: Any, expected: str) -> None:
    data = mspec.model_dump(exclude={"source"}, mode="json")
    change(data["model"])
    with pytest.raises(SpecError, match=expected):
        parse_spec(data)


def test_one_version_for_the_batch_fills_blanks_and_refuses_another(mspec: ModelSpec) -> None:
    out = prepare_predictions(mspec, batch(3), "b", model_version=4)
    assert out[MODEL_VERSION].tolist() == ["4", "4", "4"]
    agreeing = batch(3)
    agreeing["model_version"] = ["4", None, "4"]
    out = prepare_predictions(mspec, agreeing, "b", model_version="4")
    assert out[MODEL_VERSION].tolist() == ["4", "4", "4"]
    clashing = batch(3)
    clashing["model_version"] = ["4", "3", "4"]
    with pytest.raises(
        DataError, match=r"1 rows name another version than model_version='4' given for the batch"
    ):
        prepare_predictions(mspec, clashing, "b", model_version=4)


def test_a_score_may_be_missing_only_on_rows_without_a_version(mspec: ModelSpec) -> None:
    bootstrap = batch(4)
    bootstrap["score"] = [np.nan, None, 0.4, np.nan]
    out = prepare_predictions(mspec, bootstrap, "bootstrap")
    assert out["score"].isna().tolist() == [True, True, False, True]
    with pytest.raises(DataError, match=r"'score': 3 rows have a model version but no score"):
        prepare_predictions(mspec, bootstrap, "b", model_version="1")
    text = batch(2).astype(str)
    text.loc[0, "score"] = "high"  # a score that is not a number is still refused
    with pytest.raises(DataError, match=r"'score': 1 rows are not numbers"):
        prepare_predictions(mspec, text, "b")


# -- the drift check per version -----------------------------------------------------------


def versioned(frame: pd.DataFrame, version: str) -> pd.DataFrame:
    out = frame.copy()
    out["model_version"] = version
    return out


def test_score_is_tested_against_the_reference_of_the_version_that_made_it(
    mspec: ModelSpec,
) -> None:
    sim = scenario("stable", days=12)
    v1, v2 = v1_baseline(mspec), baseline_from(sim, mspec, version="2")
    old_scores = versioned(scored_by_v1(window(sim, 6)), "1")
    # Against the champion's (v2) reference, v1's scores look drifted: the old behaviour.
    assert check_drift(old_scores.drop(columns="model_version"), v2, mspec).prediction_drift
    result = check_drift(old_scores, v2, mspec, baselines={"1": v1})
    assert result.prediction_version == "1" and not result.prediction_drift
    assert result.drift_share == 0.0  # features: against the champion, quiet in any case
    # The champion's own rows are tested in one run against its reference, as before.
    own = check_drift(versioned(window(sim, 6), "2"), v2, mspec)
    assert own.prediction_version == "2" and not own.prediction_drift
    # Without the version's baseline the score is not tested, and the check says why.
    blind = check_drift(old_scores, v2, mspec)
    assert blind.prediction is None and blind.prediction_version is None
    assert any("scored by version 1, whose baseline is not available" in n for n in blind.notes)


def test_a_mixed_window_tests_the_majority_versions_rows_and_saves_both_reports(
    mspec: ModelSpec, tmp_path: Path
) -> None:
    sim = scenario("stable", days=12)
    v1, v2 = v1_baseline(mspec), baseline_from(sim, mspec, version="2")
    day = window(sim, 6)
    cut = int(len(day) * 0.7)
    mixed = pd.concat(
        [versioned(day.iloc[:cut], "2"), versioned(scored_by_v1(day.iloc[cut:]), "1")]
    )
    result = check_drift(mixed, v2, mspec, baselines={"1": v1})
    # v2 made most rows: its rows alone, against its reference (v1's would look drifted)
    assert result.prediction_version == "2" and not result.prediction_drift
    assert result.rows_current == len(mixed)  # features: every row, against the champion
    paths = result.report.save_html(tmp_path / "run.html") if result.report else []
    assert [p.name for p in paths] == ["run.html", "run-score-v2.html"]
    assert all(p.is_file() for p in paths)
    mostly_old = pd.concat(
        [versioned(day.iloc[cut:], "2"), versioned(scored_by_v1(day.iloc[:cut]), "1")]
    )
    assert check_drift(mostly_old, v2, mspec, baselines={"1": v1}).prediction_version == "1"


def test_rows_without_a_version_are_left_out_of_every_test(mspec: ModelSpec) -> None:
    sim = scenario("stable", days=12)
    v2 = baseline_from(sim, mspec, version="2")
    frame = versioned(window(sim, 6), "2")
    frame.loc[frame.index[:300], "model_version"] = None
    frame.loc[frame.index[:300], "recency_days"] = 1e6  # would break data-quality rules
    result = check_drift(frame, v2, mspec)
    assert result.rows_current == len(frame) - 300
    assert not result.quality and result.drift_share == 0.0
    assert any(n.startswith("300 rows of the window were made by no known") for n in result.notes)


def test_realized_performance_is_measured_per_version_against_its_own_validation(
    mspec: ModelSpec,
) -> None:
    sim = scenario("stable", days=12)
    v1, v2 = v1_baseline(mspec), baseline_from(sim, mspec, version="2")
    old = versioned(scored_by_v1(labelled(sim, 3, 4)), "1")
    new = versioned(labelled(sim, 5), "2")
    bootstrap = versioned(labelled(sim, 2), "1").assign(model_version=None)
    rows = pd.concat([old, new, bootstrap], ignore_index=True)
    result = check_drift(window(sim, 6), v2, mspec, labelled=rows, baselines={"1": v1})
    judged = result.performance
    assert judged is not None and judged.version == "2"
    assert judged.labelled_rows == len(new) and judged.baseline == v2.metrics
    [other] = result.other_performance
    assert other.version == "1" and other.labelled_rows == len(old)
    assert other.baseline == v1.metrics  # its own validation, not the champion's
    # Judged against the champion's validation, v1's predictions would have alarmed.
    assert v2.metrics["roc_auc"] - other.metrics["roc_auc"] > 0.05
    assert abs(other.drop("roc_auc") or 0) < 0.05
    assert any("were made by no known model version: not scored" in n for n in result.notes)
    decision = decide_action(result, mspec, [], window_end=END)
    assert "performance_drop" not in decision.triggers
    assert any(
        r.startswith("predictions of v1 (not the champion): realized roc_auc")
        for r in decision.reasons
    )


# -- the policy, alerts and summaries -------------------------------------------------------


def test_only_the_champions_predictions_can_ask_for_a_retrain(mspec: ModelSpec) -> None:
    sim = scenario("stable", days=12)
    base = check_drift(window(sim, 6), baseline_from(sim, mspec, version="2"), mspec)
    collapsed = RealizedPerformance(3000, 600, {"roc_auc": 0.5}, {"roc_auc": 0.72}, version="1")
    quiet = replace(
        base,
        performance=RealizedPerformance(0, 0, {}, {"roc_auc": 0.72}, version="2"),
        other_performance=(collapsed,),
    )
    decision = decide_action(quiet, mspec, [], window_end=END)
    assert decision.action == "none", decision.reasons
    assert any("counting predictions of champion v2 only" in r for r in decision.reasons)
    assert any(
        "v1 (not the champion)" in r and "its validation 0.720" in r for r in decision.reasons
    )
    fell = replace(quiet, performance=replace(collapsed, version="2"), other_performance=())
    decision = decide_action(fell, mspec, [], window_end=END)
    assert decision.action == "retrain" and "performance_drop" in decision.triggers
    assert any(
        "realized roc_auc 0.500 of champion v2 is 0.220 below" in r for r in decision.reasons
    )
    run = MonitorRun(mspec.name, END, END, decision, fell, champion_version="2", rows=3000)
    alert = alert_for(run, mspec)
    assert alert is not None and alert.kind == "performance"
    assert [f.name for f in alert.performance] == ["realized roc_auc of v2"]
    assert alert.facts["Realized performance of"] == "v2's predictions"
    summary = run.summary()
    assert (summary["realized_version"], summary["score_version"]) == ("2", "2")
    assert "predictions of champion v2" in run.markdown()


def test_a_window_made_by_no_known_version_is_too_small_to_judge() -> None:
    decision = insufficient_data(120, 500, unattributed=2880)
    assert (decision.status, decision.action) == ("insufficient_data", "none")
    assert "only 120 rows in the window were made by a known model version" in decision.reasons[0]
    assert "2,880 more were logged before the first champion" in decision.reasons[0]


def test_realized_performance_round_trips_and_old_records_load() -> None:
    perf = RealizedPerformance(10, 3, {"roc_auc": 0.7}, {"roc_auc": 0.71}, version="3")
    assert RealizedPerformance.from_dict(perf.to_dict()) == perf
    old = {"labelled_rows": 10, "positives": 3, "metrics": {"roc_auc": 0.7}, "baseline": {}}
    assert RealizedPerformance.from_dict(old).version is None
