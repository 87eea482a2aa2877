"""The task registry (driftline.tasks): the built-in binary task, what spec validation reads
from the registry, label and score checks, and realized performance moved out of the engine."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from driftline.config.errors import DataError, SpecError
from driftline.data.ingest import prepare_labels, prepare_predictions
from driftline.lifecycle.trainers import TRAINERS
from driftline.monitoring.check import compare_frames
from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.results import RealizedPerformance
from driftline.plugins import BUILTIN
from driftline.specs import ModelSpec, load_spec, parse_spec
from driftline.tasks import TASKS, PairedBootstrap, RowProblem, Task
from driftline.tasks.binary import BinaryClassification

from ..conftest import SPECS_DIR

SPEC_FILE = SPECS_DIR / "purchase_propensity.yaml"


def _raw() -> dict[str, Any]:
    return yaml.safe_load(SPEC_FILE.read_text())


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_spec(SPEC_FILE)


# -- the registry --------------------------------------------------------------------------


def test_binary_classification_is_built_in() -> None:
    assert "binary_classification" in TASKS.names()
    task = TASKS.get("binary_classification")
    assert isinstance(task, BinaryClassification)
    assert {e.name: e.source for e in TASKS.entries()}["binary_classification"] == BUILTIN
    assert task.primary_metrics == ("roc_auc", "pr_auc")
    assert task.watched_metrics == ("roc_auc", "pr_auc")
    assert task.calibration_metric == "ece"
    assert [m for m, greater in task.metrics.items() if greater] == ["roc_auc", "pr_auc"]


def test_an_unknown_task_is_a_spec_error_listing_the_known_ones() -> None:
    with pytest.raises(SpecError, match=r"unknown task 'forecasting'; choose one of .*binary"):
        TASKS.get("forecasting")
    data = _raw()
    data["model"]["task"] = "forecasting"
    with pytest.raises(SpecError) as err:
        parse_spec(data, "monitors/purchase_propensity.yaml")
    assert "monitors/purchase_propensity.yaml: invalid model spec" in str(err.value)
    assert (
        "model.task: unknown task 'forecasting'; choose one of binary_classification, "
        "multiclass_classification, regression" in str(err.value)
    )


def test_regression_is_built_in_with_directions() -> None:
    task = TASKS.get("regression")
    assert {e.name: e.source for e in TASKS.entries()}["regression"] == BUILTIN
    assert [m for m, greater in task.metrics.items() if greater] == ["r2", "gini"]
    assert not task.higher_is_better("mae") and task.higher_is_better("gini")
    assert task.calibration_metric == "calibration_error"
    assert task.prediction_method == "predict"


class _ToyMethods(Task):
    """Every method of a toy regression task, without its metric attributes."""

    def label_problems(self, labels: pd.Series) -> list[RowProblem]:
        return [RowProblem(labels.isna(), "have no value")]

    def prediction_problems(self, predictions: pd.Series) -> list[RowProblem]:
        return []

    def why_unusable(self, labels: pd.Series | np.ndarray) -> str | None:
        return None if len(labels) else "there are no labels"

    def strata(self, target: str, segments: Sequence[str]) -> list[str]:
        return list(segments)

    def score(self, estimator: Any, features: pd.DataFrame) -> np.ndarray:
        return np.asarray(estimator.predict(features), dtype=float)

    def evaluate(self, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
        err = np.asarray(p, dtype=float) - np.asarray(y, dtype=float)
        return {"rmse": float(np.sqrt((err**2).mean())), "mae": float(np.abs(err).mean())}

    def paired_bootstrap(
        self,
        y: np.ndarray,
        p_candidate: np.ndarray,
        p_reference: np.ndarray,
        *,
        metric: str,
        samples: int,
        confidence: float,
        seed: int,
    ) -> PairedBootstrap:
        raise NotImplementedError

    def labelled(self, frame: pd.DataFrame, score: str, target: str) -> pd.DataFrame | None:
        return frame[[score, target]].dropna().reset_index(drop=True)

    def count_labels(self, labels: pd.Series | np.ndarray) -> tuple[int, int]:
        return int(pd.Series(labels).notna().sum()), 0

    def realized(self, labelled: pd.DataFrame, score: str, target: str) -> dict[str, float]:
        return {"mae": float((labelled[score] - labelled[target]).abs().mean())}

    def why_not_judged(
        self, performance: RealizedPerformance, *, min_labelled_rows: int, min_positives: int
    ) -> str | None:
        return None

    def segment_gateable(self, rows: int, positives: int) -> bool:
        return rows > 0


class ToyRegression(_ToyMethods):
    """A task with its own metric names, to show what spec validation reads."""

    name = "toy_regression"
    metrics = {"rmse": False, "mae": False}  # noqa: RUF012
    primary_metrics = ("rmse",)
    watched_metrics = ("mae",)
    calibration_metric = None


class ToyRegressionTrainer:
    """A trainer for the toy task (a spec names a trainer that supports its task)."""

    name = "toy_regression_trainer"
    description = "mean of the target"
    tasks = ("toy_regression",)
    trusted_types = ()

    def build(self, spec: ModelSpec) -> Any:
        from sklearn.dummy import DummyRegressor

        return DummyRegressor()


@pytest.fixture
def toy() -> Iterator[Task]:
    task = TASKS.register(ToyRegression(), source="tests")
    TRAINERS.register(ToyRegressionTrainer(), source="tests")
    yield task
    TASKS.unregister(task.name)
    TRAINERS.unregister(ToyRegressionTrainer.name)


def _toy_spec(**sections: Any) -> dict[str, Any]:
    data = _raw()
    data["model"]["task"] = "toy_regression"
    data["training"] = {**data.get("training", {}), "trainer": ToyRegressionTrainer.name}
    data["promotion"] = {**data.get("promotion", {}), "primary_metric": "rmse"}
    data.setdefault("monitoring", {})["performance"] = {"max_drop": {"mae": 0.5}}
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return data


def test_a_registered_task_is_accepted_with_its_own_metric_names(toy: Task) -> None:
    entry = {e.name: e for e in TASKS.entries()}["toy_regression"]
    assert entry.source == "tests"
    spec = parse_spec(_toy_spec())
    assert spec.model.task == "toy_regression"
    assert spec.promotion.primary_metric == "rmse"
    assert spec.monitoring.performance.max_drop == {"mae": 0.5}
    assert TASKS.get(spec.model.task) is toy


def test_metric_names_the_task_does_not_have_are_refused(toy: Task) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(_toy_spec(promotion={"primary_metric": "roc_auc"}), "monitors/toy.yaml")
    message = str(err.value)
    assert "monitors/toy.yaml: invalid model spec" in message
    assert "promotion.primary_metric: 'roc_auc' is not a primary metric of task" in message
    assert "toy_regression; choose one of rmse" in message

    data = _toy_spec()
    data["monitoring"]["performance"]["max_drop"] = {"roc_auc": 0.05, "mae": 0.5}
    with pytest.raises(SpecError, match=r"max_drop: 'roc_auc' is not a metric that task "):
        parse_spec(data)
    # binary_classification's defaults are not the toy's metrics: its spec must name its own.
    bare = _raw()
    bare["model"]["task"] = "toy_regression"
    bare.pop("promotion", None)
    bare.pop("monitoring", None)
    with pytest.raises(
        SpecError, match=r"primary_metric: .*\n  - monitoring\.performance\.max_drop: 'roc_auc'"
    ):
        parse_spec(bare)


def test_binary_metric_names_are_still_checked() -> None:
    data = _raw()
    data["promotion"]["primary_metric"] = "log_loss"  # a metric, but not one to rank by
    with pytest.raises(SpecError, match=r"choose one of roc_auc, pr_auc"):
        parse_spec(data)


def test_the_registry_refuses_what_is_not_a_task() -> None:
    with pytest.raises(ValueError, match=r"must be an instance of driftline\.tasks\.Task"):
        TASKS.register(type("NotATask", (), {"name": "not_a_task"})())  # type: ignore[arg-type]

    class Unfinished(Task):
        name = "unfinished"

    with pytest.raises(TypeError, match="abstract"):
        Unfinished()  # type: ignore[abstract]

    class Inconsistent(ToyRegression):
        name = "inconsistent"
        primary_metrics = ("r2",)

    with pytest.raises(ValueError, match=r"metrics \['r2'\] are not among its metrics"):
        TASKS.register(Inconsistent())
    assert "inconsistent" not in TASKS.names()

    class Unmeasured(_ToyMethods):
        name = "unmeasured"

    with pytest.raises(ValueError, match="does not set metrics, primary_metrics, watched_metrics"):
        TASKS.register(Unmeasured())


# -- labels and scores ---------------------------------------------------------------------


def test_labels_other_than_0_or_1_are_rejected_with_their_rows(spec: ModelSpec) -> None:
    labels = pd.DataFrame(
        {"request_id": ["a", "b", "c", "d"], spec.model.target: ["1", "2", "0", "-1"]}
    )
    with pytest.raises(DataError, match=r"'purchased_7d': 2 rows are not 0 or 1 \(rows 2, 4\)"):
        prepare_labels(spec, labels, "labels.csv")
    task = TASKS.get(spec.model.task)
    [problem] = task.label_problems(pd.Series([0.0, 1.0, np.nan, 0.5]))
    assert problem.what == "are not 0 or 1"
    assert list(problem.rows) == [False, False, True, True]


def test_scores_outside_0_1_are_rejected_with_their_rows(spec: ModelSpec) -> None:
    from tests.simdata import scenario, window

    batch = window(scenario("stable"), 3).head(6).copy()
    batch.loc[[1, 5], spec.model.prediction] = [1.5, -0.01]
    with pytest.raises(DataError, match=r"'score': 2 rows are outside \[0, 1\] \(rows 2, 6\)"):
        prepare_predictions(spec, batch, "day 3")
    [problem] = TASKS.get(spec.model.task).prediction_problems(pd.Series([0.0, 1.0, 1.01]))
    assert list(problem.rows) == [False, False, True]


def test_a_classifier_needs_both_classes() -> None:
    task = TASKS.get("binary_classification")
    assert task.why_unusable(pd.Series([0, 1, 1])) is None
    assert task.why_unusable(np.array([1, 1])) == (
        "every label is 1; a classifier needs both classes"
    )
    assert task.segment_gateable(100, 10)
    assert not task.segment_gateable(100, 0) and not task.segment_gateable(100, 100)


def test_labelled_rows_with_other_labels_fail_the_drift_check() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=200)})
    plan = DriftPlan(
        columns={"x": "numerical"}, score="p", target="y", task="binary_classification"
    )
    labelled = pd.DataFrame({"p": [0.1, 0.8, 0.4], "y": [0, 1, 2]})
    with pytest.raises(DataError, match=r"labels in 'y': 1 rows are not 0 or 1"):
        compare_frames(ref, ref, plan, labelled=labelled)


# -- realized performance: the task's numbers, equal to what Evidently reported ------------------


def _evidently_roc_auc(labelled: pd.DataFrame) -> float:
    from driftline.monitoring.engines.evidently import _performance_snapshot

    snapshot = _performance_snapshot(labelled, "p", "y", None, ())
    [value] = [
        m["value"] for m in snapshot.dict()["metrics"] if m["config"]["type"].endswith(":RocAuc")
    ]
    return float(value)


def test_realized_metrics_from_the_task_equal_evidentlys_roc_auc() -> None:
    from sklearn.metrics import average_precision_score

    task = TASKS.get("binary_classification")
    rng = np.random.default_rng(7)
    y = (rng.random(400) < 0.3).astype(int)
    p = np.round(1 / (1 + np.exp(-(1.2 * y + rng.normal(size=400)))), 2)  # ties, as logged
    frame = pd.DataFrame({"p": p, "y": y.astype(float)})
    rows = task.labelled(frame, "p", "y")
    assert rows is not None and rows["y"].dtype.kind == "i"
    realized = task.realized(rows, "p", "y")
    assert set(realized) == set(task.watched_metrics)
    # Evidently's RocAuc is scikit-learn's roc_auc_score averaged over both classes (p and
    # 1 - p): the same number up to the last bit of a float.
    assert realized["roc_auc"] == pytest.approx(_evidently_roc_auc(rows), abs=1e-15)
    assert realized["pr_auc"] == average_precision_score(y, p)


def test_the_drift_check_reports_the_tasks_realized_metrics() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(size=300), "p": rng.random(300)})
    cur = pd.DataFrame({"x": rng.normal(size=300), "p": rng.random(300)})
    labelled = pd.DataFrame({"p": cur["p"], "y": (rng.random(300) < cur["p"]).astype(int)})
    plan = DriftPlan(
        columns={"x": "numerical"},
        prediction="p",
        score="p",
        target="y",
        task="binary_classification",
    )
    result = compare_frames(ref, cur, plan, labelled=labelled, baseline_metrics={"roc_auc": 0.8})
    perf = result.performance
    assert perf is not None
    task = TASKS.get("binary_classification")
    rows = task.labelled(labelled, "p", "y")
    assert rows is not None
    assert perf.metrics == task.realized(rows, "p", "y")
    assert (perf.labelled_rows, perf.positives) == (300, int(labelled["y"].sum()))
    # A single class: counted, but no metric (and nothing for the engine to show).
    single = labelled.assign(y=1)
    result = compare_frames(ref, cur, plan, labelled=single)
    assert result.performance is not None and result.performance.metrics == {}
    assert result.performance.positives == 300


def test_a_specs_drift_plan_names_its_task(spec: ModelSpec) -> None:
    assert spec.model.task == "binary_classification"  # the default
    assert DriftPlan.from_spec(spec).task == "binary_classification"
    assert DriftPlan.from_columns(spec.column_types).task is None  # files: no labels


def test_task_options_are_validated_by_the_task_and_reach_task_for() -> None:
    from pydantic import Field

    from driftline.specs.model import ModelSection
    from driftline.tasks import TaskOptions, task_for

    data = _raw()
    data["model"]["task_options"] = {"threshold": 0.5}
    with pytest.raises(SpecError, match=r"task_options for task binary_classification: "):
        parse_spec(data)

    class Options(TaskOptions):
        power: float = Field(default=1.5, ge=0)

    class WithOptions(BinaryClassification):
        name = "binary_with_options"
        options_model = Options

    TASKS.register(WithOptions())
    try:
        data["model"]["task"] = "binary_with_options"
        data["model"]["task_options"] = {"power": -1}
        with pytest.raises(SpecError, match=r"task_options for task binary_with_options: power"):
            parse_spec(data)
        data["model"]["task_options"] = {"power": 2}
        task = task_for(ModelSection.model_validate(data["model"]))
        assert task.options == Options(power=2.0)
        assert TASKS.get("binary_with_options").options == Options()  # the prototype is unchanged
        assert task.higher_is_better("roc_auc") and not task.higher_is_better("log_loss")
    finally:
        TASKS.unregister("binary_with_options")
