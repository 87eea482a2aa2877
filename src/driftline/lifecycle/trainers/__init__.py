"""Trainers: what turns a spec into an unfitted scikit-learn pipeline (the registry).

A trainer is one module that registers itself in :data:`TRAINERS`; ``training.pipeline``
in a spec names one, and spec validation reads the allowed names from the registry. Each
trainer says which model tasks it supports and which skops types its fitted pipelines
hold beyond skops' default trust (see :func:`trusted_types` for what that allows).

Built in: ``hist_gradient_boosting`` and ``logistic_regression`` (both for
``binary_classification``). A third party adds one with an entry point in the
``driftline.trainers`` group, or at run time with ``TRAINERS.register(MyTrainer())``.

Keep these modules cheap to import: spec validation imports them, so scikit-learn is
imported inside ``build``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from driftline.config.errors import SpecError
from driftline.plugins import Registry

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from driftline.specs import ModelSpec

#: Types outside skops' default trust that any scikit-learn pipeline may hold and that
#: carry no code of their own (``numpy.dtype``, e.g. in a fitted scaler or imputer).
BASE_TRUSTED_TYPES: tuple[str, ...] = ("numpy.dtype",)


class Trainer(Protocol):
    """Builds the unfitted pipeline a spec asks for.

    ``name`` is the value of ``training.pipeline``; ``description`` one line for
    ``driftline plugins``; ``tasks`` the ``model.task`` values it can train for;
    ``trusted_types`` the skops types its fitted pipelines hold beyond skops' default
    trust and :data:`BASE_TRUSTED_TYPES` (each one widens what driftline will load from
    any model artifact: declare the narrowest types, see :func:`trusted_types`).

    ``build(spec)`` returns an unfitted ``sklearn.pipeline.Pipeline`` that takes the
    frame of :func:`driftline.lifecycle.training.feature_frame` (numerical columns as
    floats, categorical ones as strings, missing as NaN) and has ``predict_proba``. It
    applies ``training.params`` and ``training.random_state`` and raises SpecError on a
    parameter the estimator does not accept.
    """

    name: str
    description: str
    tasks: tuple[str, ...]
    trusted_types: tuple[str, ...]

    def build(self, spec: ModelSpec) -> Pipeline: ...


def _check(trainer: Any) -> str | None:
    """Why ``trainer`` does not fit the :class:`Trainer` interface, or None."""
    if not isinstance(getattr(trainer, "description", None), str):
        return "it needs a one-line `description` string"
    tasks = getattr(trainer, "tasks", None)
    if not isinstance(tasks, tuple) or not tasks or not all(isinstance(t, str) for t in tasks):
        return "`tasks` must be a non-empty tuple of task names"
    types = getattr(trainer, "trusted_types", None)
    if not isinstance(types, tuple) or not all(isinstance(t, str) for t in types):
        return "`trusted_types` must be a tuple of fully qualified type names (may be empty)"
    if not callable(getattr(trainer, "build", None)):
        return "it needs a `build(spec)` method returning an unfitted pipeline"
    return None


TRAINERS: Registry[Trainer] = Registry(
    "trainer",
    "driftline.trainers",
    [
        "driftline.lifecycle.trainers.hist_gradient_boosting",
        "driftline.lifecycle.trainers.logistic_regression",
    ],
    check=_check,
)


def trusted_types() -> tuple[str, ...]:
    """The skops allow-list: :data:`BASE_TRUSTED_TYPES` plus every registered trainer's
    ``trusted_types``, sorted, without duplicates.

    Training refuses a fitted pipeline that needs a type outside this list, and
    :meth:`driftline.lifecycle.registry.Registry.load_model` loads every model version
    with it. The list is held in code, never read from the artifact (so a tampered
    artifact cannot widen it), and it is the union over trainers because a stored
    version may have been trained by any of them.

    Security: each declared type is one that skops will construct from *any* model
    artifact, so installing a package that registers a trainer widens what a person
    able to write to the MLflow artifact store can make driftline instantiate. Trust a
    trainer's ``trusted_types`` as you trust its code, and declare data-holding types
    only: a function or callable type on the list (``functools.partial`` admits partials
    of every listed function) can turn a crafted artifact into code execution.
    """
    declared = {t for trainer in TRAINERS for t in trainer.trusted_types}
    return tuple(sorted(set(BASE_TRUSTED_TYPES) | declared))


def trainer_for(spec: ModelSpec) -> Trainer:
    """The trainer named by ``training.pipeline``; SpecError when it is not registered or
    does not support the spec's ``model.task``."""
    trainer = TRAINERS.get(spec.training.pipeline)
    why = task_problem(trainer, spec.model.task)
    if why:
        raise SpecError(f"{spec.name}: training.pipeline: {why}")
    return trainer


def task_problem(trainer: Trainer, task: str) -> str | None:
    """Why ``trainer`` cannot train a model of ``task`` (naming the trainers that can), or
    None when it can. Spec validation and :func:`trainer_for` both ask this."""
    if task in trainer.tasks:
        return None
    return (
        f"{trainer.name!r} does not support the task {task!r} (it supports "
        f"{', '.join(trainer.tasks)}); choose a trainer that does: "
        f"{', '.join(_supporting(task)) or 'none is registered'}"
    )


def _supporting(task: str) -> list[str]:
    return [t.name for t in TRAINERS if task in t.tasks]


def with_params(
    spec: ModelSpec, prep: Any, estimator: Any, defaults: Mapping[str, Any]
) -> Pipeline:
    """``Pipeline([("prep", prep), ("classifier", estimator)])`` with the estimator's
    parameters set to ``defaults`` overridden by ``training.params``.

    Raises SpecError naming ``training.params`` when the estimator rejects a parameter.
    """
    from sklearn.pipeline import Pipeline

    params = {**defaults, **spec.training.params}
    try:
        estimator.set_params(**params)
    except ValueError as exc:
        raise SpecError(f"{spec.name}: training.params: {exc}") from None
    return Pipeline([("prep", prep), ("classifier", estimator)])


__all__ = [
    "BASE_TRUSTED_TYPES",
    "TRAINERS",
    "Trainer",
    "trainer_for",
    "trusted_types",
    "with_params",
]
