"""Trainers: what fits a spec's model (the registry, and your own functions).

``training.trainer`` in a spec names either a registered trainer or a function of yours
given as an import path ``package.module:function``. Either way training calls one
:data:`TrainFunction`: ``fit(frame, spec)`` returns a fitted model (see
:func:`train_function`).

A registered trainer is one module that registers itself in :data:`TRAINERS`; spec
validation reads the allowed names from the registry. Each says which model tasks it
supports and which skops types its fitted pipelines hold beyond skops' default trust (see
:func:`trusted_types` for what that allows). Built in: ``hist_gradient_boosting`` (for
``binary_classification`` and ``regression``), ``logistic_regression``
(``binary_classification``) and ``linear_regression`` (``regression``). A third party adds one with
an entry point in the ``driftline.trainers`` group, or at run time with
``TRAINERS.register(MyTrainer())``.

Keep these modules cheap to import: spec validation imports them, so scikit-learn is
imported inside ``build`` and a trainer's import path is imported only when it trains.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from driftline.config.errors import SpecError
from driftline.plugins import Registry

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from driftline.specs import ModelSpec

#: ``fit(frame, spec) -> fitted model``: what every trainer comes down to. ``frame`` holds
#: the training rows: the spec's features, typed as driftline scores them (numbers as
#: floats, categories as strings, missing as NaN), and the target column.
TrainFunction = Callable[["pd.DataFrame", "ModelSpec"], Any]

#: A trainer given as an import path: ``package.module:function``.
IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")

#: Types outside skops' default trust that any scikit-learn pipeline may hold and that
#: carry no code of their own (``numpy.dtype``, e.g. in a fitted scaler or imputer).
BASE_TRUSTED_TYPES: tuple[str, ...] = ("numpy.dtype",)


class Trainer(Protocol):
    """Builds the unfitted pipeline a spec asks for.

    ``name`` is the value of ``training.trainer``; ``description`` one line for
    ``driftline plugins``; ``tasks`` the ``model.task`` values it can train for;
    ``trusted_types`` the skops types its fitted pipelines hold beyond skops' default
    trust and :data:`BASE_TRUSTED_TYPES` (each one widens what driftline will load from
    any model artifact: declare the narrowest types, see :func:`trusted_types`).

    ``build(spec)`` returns an unfitted ``sklearn.pipeline.Pipeline`` that takes the
    frame of :func:`driftline.lifecycle.training.feature_frame` (numerical columns as
    floats, categorical ones as strings, missing as NaN) and has the task's
    ``prediction_method`` (``predict_proba`` for a classifier, ``predict``). It
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
        "driftline.lifecycle.trainers.linear_regression",
    ],
    check=_check,
)


def trusted_types() -> tuple[str, ...]:
    """The skops allow-list: :data:`BASE_TRUSTED_TYPES` plus every registered trainer's
    ``trusted_types``, sorted, without duplicates.

    A spec adds the types its own models need with ``training.trusted_types``
    (:func:`driftline.lifecycle.flavors.allowed_types` is the list for one spec). Training
    refuses a fitted model that needs a type outside that list, and
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
    """The registered trainer named by ``training.trainer``; SpecError when it is not
    registered (or is an import path) or does not support the spec's ``model.task``."""
    trainer = TRAINERS.get(spec.training.trainer)
    why = task_problem(trainer, spec.model.task)
    if why:
        raise SpecError(f"{spec.name}: training.trainer: {why}")
    return trainer


def is_import_path(value: str) -> bool:
    """Whether a ``training.trainer`` value is an import path (``package.module:function``)
    rather than a registered name."""
    return ":" in value


def trainer_problem(value: str) -> str | None:
    """Why ``value`` cannot be a ``training.trainer`` (neither a registered name nor a
    well-formed import path), or None. Nothing is imported: a function is looked up when
    it trains, in the environment that trains."""
    if is_import_path(value):
        if IMPORT_PATH.match(value):
            return None
        return f"{value!r} is not an import path of the form package.module:function"
    if value in TRAINERS:
        return None
    return f"{TRAINERS.unknown(value)}, or give your own function as package.module:function"


def train_function(spec: ModelSpec) -> TrainFunction:
    """The function that fits the spec's model: ``fit(frame, spec) -> fitted model``.

    A registered trainer builds its pipeline and fits it on the frame's features and
    target; an import path is imported now. Raises SpecError when the name is not
    registered, the trainer does not support the task, or the import path does not import
    or name a function.
    """
    name = spec.training.trainer
    if is_import_path(name):
        return import_trainer(name, spec.name)
    trainer = trainer_for(spec)

    def fit(frame: pd.DataFrame, spec: ModelSpec) -> Any:
        m = spec.model
        return trainer.build(spec).fit(frame[m.features.all], frame[m.target].to_numpy())

    return fit


def import_trainer(path: str, model: str = "") -> TrainFunction:
    """Import ``package.module:function``; SpecError saying what failed (the module does
    not import, has no such name, or the name is not a function)."""
    where = f"{model}: training.trainer {path!r}" if model else f"training.trainer {path!r}"
    if not IMPORT_PATH.match(path):
        raise SpecError(f"{where} is not an import path of the form package.module:function")
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module may fail in any way while importing
        raise SpecError(
            f"{where}: cannot import {module_name!r} ({type(exc).__name__}: {exc}). Install "
            "the package that holds it in the environment that trains (the CLI, and the "
            "workers that run retrain-model), or fix the path."
        ) from None
    function = getattr(module, attribute, None)
    if function is None:
        raise SpecError(f"{where}: module {module_name!r} has no {attribute!r}")
    if not callable(function):
        raise SpecError(
            f"{where}: {attribute!r} is a {type(function).__name__}, not a function "
            "taking (frame, spec)"
        )
    return function  # type: ignore[no-any-return]


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
    "IMPORT_PATH",
    "TRAINERS",
    "TrainFunction",
    "Trainer",
    "import_trainer",
    "is_import_path",
    "train_function",
    "trainer_for",
    "trainer_problem",
    "trusted_types",
    "with_params",
]
