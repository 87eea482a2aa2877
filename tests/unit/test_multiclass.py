"""The multiclass_classification task: options, metrics against scikit-learn's own
functions on fixed data, label and probability checks, the drift plan, and the
per-class recall gate."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, log_loss, recall_score, roc_auc_score

from driftline.lifecycle.gates import class_recall_gate, evaluate_gates
from driftline.lifecycle.results import BenchmarkResult, ModelScore
from driftline.monitoring.plan import DriftPlan
from driftline.specs import ModelSpec, PromotionSection, load_spec
from driftline.tasks import task_for
from driftline.tasks.multiclass import class_recalls
from tests.conftest import SPECS_DIR

CLASSES = ("fashion", "electronics", "home")


@pytest.fixture
def mc_spec() -> ModelSpec:
    return load_spec(SPECS_DIR / "next_category.yaml")


def _spec_with(**model: object) -> ModelSpec:
    data = load_spec(SPECS_DIR / "next_category.yaml").model_dump(exclude={"path"})
    data["model"].update(model)
    return ModelSpec.model_validate(data)


def _fixed(seed: int = 7, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    logits = rng.normal(0, 1, (n, 3))
    logits[np.arange(n), y] += 1.0
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, p


def test_metrics_match_scikit_learn_on_fixed_data(mc_spec: ModelSpec) -> None:
    task = task_for(mc_spec.model.model_copy(update={"task_options": {"classes": CLASSES}}))
    y, p = _fixed()
    got = task.evaluate(y, p)
    predicted = p.argmax(axis=1)
    assert got["log_loss"] == pytest.approx(log_loss(y, p))
    assert got["roc_auc_macro"] == pytest.approx(
        roc_auc_score(y, p, multi_class="ovr", average="macro")
    )
    assert got["roc_auc_weighted"] == pytest.approx(
        roc_auc_score(y, p, multi_class="ovr", average="weighted")
    )
    assert got["roc_auc_macro"] != pytest.approx(got["roc_auc_weighted"])
    assert got["accuracy"] == pytest.approx(float((predicted == y).mean()))
    assert got["f1_macro"] == pytest.approx(f1_score(y, predicted, average="macro"))
    recalls = recall_score(y, predicted, average=None)
    assert class_recalls(got) == pytest.approx(dict(zip(CLASSES, recalls, strict=True)))
    # Every metric the task names has a direction; log loss is the lower-is-better one.
    assert set(task.metrics) <= set(got)
    assert [m for m in task.metrics if not task.higher_is_better(m)] == ["log_loss"]


def test_rows_off_by_rounding_are_normalized_and_a_missing_class_gives_nan(
    mc_spec: ModelSpec,
) -> None:
    task = task_for(mc_spec.model.model_copy(update={"task_options": {"classes": CLASSES}}))
    y, p = _fixed()
    rounded = np.round(p, 2)  # rows sum to 1 within 0.01, not exactly
    assert task.evaluate(y, rounded)["roc_auc_macro"] == pytest.approx(
        roc_auc_score(y, rounded / rounded.sum(axis=1, keepdims=True), multi_class="ovr")
    )
    only_two = task.evaluate(y[y < 2], p[y < 2])
    assert np.isnan(only_two["roc_auc_macro"]) and np.isnan(only_two["recall_home"])
    assert np.isfinite(only_two["accuracy"])


def test_bootstrap_interval_brackets_the_difference(mc_spec: ModelSpec) -> None:
    task = task_for(mc_spec.model.model_copy(update={"task_options": {"classes": CLASSES}}))
    y, p = _fixed()
    worse = 0.5 * p + 0.5 / 3 + np.random.default_rng(1).normal(0, 0.05, p.shape).clip(-0.1, 0.1)
    worse = np.clip(worse, 0.01, None)
    for metric in task.primary_metrics:
        boot = task.paired_bootstrap(
            y, p, worse, metric=metric, samples=200, confidence=0.9, seed=0
        )
        # The vectorised resampling computes the metric as scikit-learn does.
        expected = task.evaluate(y, p)[metric] - task.evaluate(y, worse)[metric]
        assert boot.diff == pytest.approx(expected)
        assert boot.ci_low <= boot.diff <= boot.ci_high
    with pytest.raises(ValueError, match="log_loss"):
        task.paired_bootstrap(y, p, worse, metric="log_loss", samples=100, confidence=0.9, seed=0)


def test_spec_defaults_options_and_column_checks(mc_spec: ModelSpec) -> None:
    assert mc_spec.promotion.primary_metric == "roc_auc_macro"
    task = task_for(mc_spec.model)
    assert task.higher_is_better(mc_spec.promotion.primary_metric)
    assert set(mc_spec.monitoring.performance.max_drop) <= set(task.watched_metrics)
    assert "recall_toys" in task.metrics
    kinds = mc_spec.prediction_types
    assert kinds.pop("predicted_category") == "categorical"
    assert kinds == {f"p_{c}": "numerical" for c in task.options.classes}  # type: ignore[attr-defined]
    # A spec without task options names what is missing.
    with pytest.raises(ValidationError, match="task_options for task multiclass_classification"):
        _spec_with(task_options={})
    with pytest.raises(ValidationError, match="listed twice"):
        _spec_with(task_options={"classes": ["a", "a"]})
    with pytest.raises(ValidationError, match="not among classes"):
        _spec_with(task_options={"classes": ["a", "b"], "probability_columns": {"c": "p_c"}})
    # Probability columns are input columns: plain identifiers, not reserved, not twice.
    opts = {"classes": ["a", "b"]}
    with pytest.raises(ValidationError, match="used twice"):
        _spec_with(task_options={**opts, "probability_columns": {"a": "recency_days"}})
    with pytest.raises(ValidationError, match="reserved"):
        _spec_with(task_options={**opts, "probability_columns": {"a": "consent"}})
    with pytest.raises(ValidationError, match="plain identifier"):
        _spec_with(task_options={**opts, "probability_columns": {"a": "p a"}})
    # Binary specs keep their defaults.
    binary = load_spec(SPECS_DIR / "purchase_propensity.yaml")
    assert binary.prediction_types == {binary.model.prediction: "numerical"}


def test_labels_predictions_and_scores(mc_spec: ModelSpec) -> None:
    task = task_for(mc_spec.model)
    m = mc_spec.model
    encoded = task.encode_labels(pd.Series(["home", "toys", "garden", None]))
    assert encoded.tolist()[:2] == [2.0, 5.0] and encoded.iloc[2:].isna().all()
    [problem] = task.label_problems(encoded)
    assert problem.rows.tolist() == [False, False, True, True]
    assert task.decode_labels(np.array([2, 0])).tolist() == ["home", "fashion"]

    p = np.full((3, 6), 1 / 6)
    p[1] = [0.5, 0.5, 0.2, 0, 0, 0]  # sums to 1.2
    p[2] = [0.9, 0.1, 0, 0, 0, 0]
    frame = task.prediction_frame(m, p)
    assert frame[m.prediction].tolist()[2] == "fashion"
    frame.loc[0, m.prediction] = "garden"
    found = {(c, int(np.count_nonzero(r.rows))) for c, r in task.check_predictions(m, frame)}
    assert ("predicted_category", 1) in found
    assert (" + ".join(f"p_{c}" for c in task.options.classes), 1) in found  # type: ignore[attr-defined]
    np.testing.assert_allclose(task.stored_scores(m, frame), p)

    # A fitted model's classes_ are matched by name, whatever their order.
    x = pd.DataFrame({"a": [0.0, 1, 2, 3, 4, 5]})
    names = np.array(["toys", "home", "toys", "home", "fashion", "fashion"], dtype=object)
    fitted = LogisticRegression().fit(x, names)
    scores = task.score(fitted, x)
    assert scores.shape == (6, 6)
    np.testing.assert_allclose(scores[:, 5], fitted.predict_proba(x)[:, 2])  # toys
    assert (scores[:, 1] == 0).all()  # electronics: never learnt
    stray = LogisticRegression().fit(x, np.array(["a", "b"] * 3))
    with pytest.raises(Exception, match="does not list"):
        task.score(stray, x)


def test_drift_plan_tests_the_predicted_class_and_each_probability(mc_spec: ModelSpec) -> None:
    plan = DriftPlan.from_spec(mc_spec)
    tested = plan.tested_predictions
    assert tested["predicted_category"] == "categorical"
    assert [c for c, k in tested.items() if k == "numerical"] == list(plan.classes.values())
    assert plan.prediction_rule("predicted_category") == (None, None)
    assert DriftPlan.from_spec(mc_spec, prediction=False).tested_predictions == {}


def _benchmark(challenger: dict[str, float], champion: dict[str, float]) -> BenchmarkResult:
    def score(version: str, recalls: dict[str, float]) -> ModelScore:
        metrics = {"roc_auc_macro": 0.80, **{f"recall_{c}": v for c, v in recalls.items()}}
        return ModelScore(version, metrics, rows_per_second=1e6, size_bytes=1000)

    return BenchmarkResult(
        model="next_category",
        window_start="2026-10-01",
        window_end="2026-10-08",
        rows=5000,
        positives=400,
        primary_metric="roc_auc_macro",
        challenger=score("2", challenger),
        champion=score("1", champion),
        segments=[],
        task="multiclass_classification",
        diff=0.01,
        ci_low=0.005,
        ci_high=0.02,
        confidence=0.95,
    )


def test_a_challenger_that_loses_one_class_is_blocked() -> None:
    policy = PromotionSection(primary_metric="roc_auc_macro", min_improvement=0.0)
    champion = {"fashion": 0.70, "electronics": 0.60, "toys": 0.40}
    loses_toys = evaluate_gates(
        _benchmark({"fashion": 0.80, "electronics": 0.66, "toys": 0.30}, champion), policy
    )
    gate = loses_toys.gate("class_recall")
    assert gate.status == "failed" and "toys" in gate.reason and "fashion" not in gate.reason
    assert gate.observed == pytest.approx(-0.10)
    assert [g.name for g in loses_toys.failed] == ["class_recall"]

    within = evaluate_gates(
        _benchmark({"fashion": 0.80, "electronics": 0.66, "toys": 0.36}, champion), policy
    )
    assert within.gate("class_recall").status == "passed" and within.passed
    looser = policy.model_copy(update={"max_class_recall_drop": 0.15})
    assert evaluate_gates(
        _benchmark({"fashion": 0.80, "electronics": 0.66, "toys": 0.30}, champion), looser
    ).passed
    # An undefined recall (no rows of the class) is reported, not gated.
    nan = evaluate_gates(
        _benchmark({"fashion": 0.8, "electronics": 0.66, "toys": float("nan")}, champion), policy
    ).gate("class_recall")
    assert nan.status == "passed" and "not judged" in nan.reason and "toys" in nan.reason


def test_the_class_recall_gate_is_skipped_for_binary_models() -> None:
    result = dataclasses.replace(_benchmark({}, {}), task="binary_classification")
    gate = class_recall_gate(result, PromotionSection())
    assert gate.status == "skipped" and "per-class recall" in gate.reason
