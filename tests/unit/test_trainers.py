"""The trainer registry: built-ins, a toy trainer registered at run time, spec validation,
and the skops allow-list the trainers declare."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from driftline.config.errors import SpecError
from driftline.lifecycle.trainers import BASE_TRUSTED_TYPES, TRAINERS, trusted_types
from driftline.lifecycle.training import build_pipeline
from driftline.plugins import BUILTIN
from driftline.specs import ModelSpec, parse_spec


class ToyTrainer:
    """Predicts the training set's class shares, whatever the features."""

    name = "toy_prior"
    description = "always the class prior"
    tasks = ("binary_classification",)
    trusted_types = ("tests.toy.Thing",)

    def build(self, spec: ModelSpec) -> Pipeline:
        return Pipeline([("classifier", DummyClassifier(strategy="prior"))])


@pytest.fixture
def toy() -> Iterator[ToyTrainer]:
    trainer = ToyTrainer()
    TRAINERS.register(trainer)
    try:
        yield trainer
    finally:
        TRAINERS.unregister(trainer.name)


def _with_training(spec: ModelSpec, **training: Any) -> dict[str, Any]:
    return {"model": spec.model.model_dump(), "training": training}


def test_the_built_in_trainers_are_registered_with_their_tasks() -> None:
    entries = {e.name: e for e in TRAINERS.entries()}
    expected = {
        "hist_gradient_boosting": (
            "binary_classification",
            "regression",
            "multiclass_classification",
        ),
        "logistic_regression": ("binary_classification", "multiclass_classification"),
        "linear_regression": ("regression",),
    }
    assert set(expected) <= set(entries)
    for name, tasks in expected.items():
        assert entries[name].source == BUILTIN
        assert entries[name].value.tasks == tasks
        assert entries[name].value.description


def test_a_registered_trainer_is_accepted_by_the_spec_and_builds_the_pipeline(
    spec: ModelSpec, toy: ToyTrainer
) -> None:
    parsed = parse_spec(_with_training(spec, trainer="toy_prior"))
    assert parsed.training.trainer == "toy_prior"
    pipeline = build_pipeline(parsed)
    assert isinstance(pipeline.named_steps["classifier"], DummyClassifier)
    assert "tests.toy.Thing" in trusted_types()


def test_an_unknown_trainer_is_a_spec_error_naming_the_registered_ones(spec: ModelSpec) -> None:
    with pytest.raises(SpecError, match=r"training\.trainer: unknown trainer 'xgboost'") as err:
        parse_spec(_with_training(spec, trainer="xgboost"))
    for name in TRAINERS.names():
        assert name in str(err.value)


def test_a_trainer_that_does_not_support_the_task_is_refused(
    spec: ModelSpec, toy: ToyTrainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = parse_spec(_with_training(spec, trainer="toy_prior"))
    monkeypatch.setattr(toy, "tasks", ("regression",))
    with pytest.raises(SpecError, match="does not support the task 'binary_classification'"):
        parse_spec(_with_training(spec, trainer="toy_prior"))
    with pytest.raises(SpecError, match="does not support the task 'binary_classification'"):
        build_pipeline(parsed)  # a spec validated before the trainer changed


def test_a_trainer_without_tasks_cannot_be_registered() -> None:
    class Incomplete:
        name = "incomplete"
        description = "no tasks"
        tasks = ()
        trusted_types = ()

        def build(self, spec: ModelSpec) -> Pipeline:
            raise NotImplementedError

    with pytest.raises(ValueError, match="tasks"):
        TRAINERS.register(Incomplete())
    assert "incomplete" not in TRAINERS


@pytest.mark.parametrize("name", ["hist_gradient_boosting", "logistic_regression"])
def test_each_built_in_declares_the_skops_types_its_fitted_pipeline_needs(
    spec: ModelSpec, name: str
) -> None:
    import numpy as np
    import pandas as pd
    import skops.io

    from driftline.lifecycle.training import feature_frame

    spec = parse_spec(_with_training(spec, trainer=name))
    rng = np.random.default_rng(0)
    rows = 200
    frame = pd.DataFrame(
        {c: rng.normal(size=rows) for c in spec.model.features.numerical}
        | {c: rng.choice(["a", "b", None], size=rows) for c in spec.model.features.categorical}
    )
    y = rng.integers(0, 2, size=rows)
    fitted = build_pipeline(spec).fit(feature_frame(spec, frame), y)
    needed = set(skops.io.get_untrusted_types(data=skops.io.dumps(fitted)))
    own = set(BASE_TRUSTED_TYPES) | set(TRAINERS.get(name).trusted_types)
    assert needed <= own
