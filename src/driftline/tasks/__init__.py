"""Model tasks: everything that depends on what a model predicts, behind one interface.

A task knows how a model scores rows, which metrics exist and which direction is better,
which labels and predictions are valid, how the baseline sample is stratified, which
metrics realized performance watches, and when labels, a window or a segment hold enough
to judge. Every call site asks the registry: ``TASKS.get(spec.model.task)``; spec
validation reads ``model.task``, ``promotion.primary_metric`` and the keys of
``monitoring.performance.max_drop`` from it.

Built in: ``binary_classification`` (:mod:`driftline.tasks.binary`), ``regression``
(:mod:`driftline.tasks.regression`) and ``multiclass_classification``
(:mod:`driftline.tasks.multiclass`). A new task is one
module that subclasses :class:`Task` and registers an instance (``TASKS.register(MyTask())``),
or, from another package, an entry point in the ``driftline.tasks`` group.

This module stays cheap to import (no pandas, scikit-learn or Evidently): spec validation
reads it.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from driftline.config.errors import DataError
from driftline.plugins import Registry

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from driftline.monitoring.results import EstimatedPerformance, RealizedPerformance
    from driftline.specs.model import ModelSection
    from driftline.tasks.figures import GateFigure

#: The task of a spec that names none.
DEFAULT_TASK = "binary_classification"


class TaskOptions(BaseModel):
    """The ``model.task_options`` of a spec, as one task reads them. A task with options
    subclasses this (strict keys, frozen) and names it in ``Task.options_model``."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class RowProblem:
    """Rows of a batch a task cannot use: ``rows`` is a boolean mask over the batch,
    ``what`` completes "N rows ..." (e.g. ``"are not 0 or 1"``)."""

    rows: pd.Series | np.ndarray
    what: str


@dataclass(frozen=True)
class PairedBootstrap:
    """The difference (candidate - reference) of a metric with its confidence interval."""

    metric: str
    diff: float
    ci_low: float
    ci_high: float
    confidence: float
    samples: int


class Task(ABC):
    """One kind of model (binary classification, regression, ...).

    An abstract base class rather than a Protocol: a task bundles a dozen methods, and a
    plugin that forgets one must fail when it is registered (instantiating it raises
    TypeError naming the missing methods), not weeks later inside a monitor run; the
    registry checks membership with a plain ``isinstance``.

    Subclasses set these class attributes:

    - ``name``: the registry key, the value of ``model.task`` in a spec;
    - ``metrics``: every metric :meth:`evaluate` returns, mapped to whether a larger value
      means a better model;
    - ``primary_metrics``: the metrics a promotion may rank by (``promotion.primary_metric``);
      :meth:`paired_bootstrap` supports each;
    - ``watched_metrics``: the metrics :meth:`realized` returns, the allowed keys of
      ``monitoring.performance.max_drop``;
    - ``calibration_metric``: the metric the calibration gate reads (lower is better), or
      None when the task has none (the gate is then skipped);
    - ``prediction_method``: the method a fitted model of this task must have, which
      :meth:`score` calls (``predict_proba`` for classification, ``predict`` by default);
      a trainer's model or an adopted model without it is refused;
    - ``options_model``: the :class:`TaskOptions` subclass that validates the spec's
      ``model.task_options`` (the default accepts none);
    - ``estimated_metrics``: the metrics :meth:`estimate` returns without labels, the
      allowed keys of ``monitoring.performance.estimated.max_drop`` (empty: the task
      estimates nothing, :meth:`fit_estimator` says why);
    - ``default_primary_metric`` / ``default_max_drop``: what a spec of this task gets when
      it leaves ``promotion.primary_metric`` / ``monitoring.performance.max_drop`` out
      (None: the sections' own defaults, binary classification's).

    A prediction is logged as one or more store columns (:meth:`prediction_columns`: by
    default the single score column ``model.prediction``); :meth:`prediction_frame` and
    :meth:`stored_scores` convert between what :meth:`score` returns and those columns.
    Labels are stored as numbers; a task whose labels are names (classes) converts them
    with :meth:`encode_labels` and :meth:`decode_labels`. These hooks have defaults that
    fit a task with one numeric score and numeric labels.

    The registered instance holds default options; :func:`task_for` returns a copy
    configured with one spec's options (``self.options``), which every call site that
    has a spec uses.
    """

    name: str
    metrics: Mapping[str, bool]
    primary_metrics: tuple[str, ...]
    watched_metrics: tuple[str, ...]
    calibration_metric: str | None = None
    prediction_method: str = "predict"
    options_model: ClassVar[type[TaskOptions]] = TaskOptions
    default_primary_metric: ClassVar[str | None] = None
    default_max_drop: ClassVar[Mapping[str, float] | None] = None
    estimated_metrics: ClassVar[tuple[str, ...]] = ()

    @property
    def options(self) -> TaskOptions:
        """This instance's options (the defaults unless :meth:`configure` made it)."""
        return self.__dict__.get("_options") or self.options_model()

    def configure(self, options: Mapping[str, Any] | None) -> Task:
        """A copy of this task that reads ``options`` (a spec's ``model.task_options``).

        Raises pydantic.ValidationError for unknown keys or bad values."""
        configured = copy.copy(self)
        configured.__dict__["_options"] = self.options_model.model_validate(dict(options or {}))
        return configured

    def higher_is_better(self, metric: str) -> bool:
        """Whether a larger value of ``metric`` means a better model. Raises KeyError for
        a metric the task does not compute."""
        return bool(self.metrics[metric])

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    # -- data: what the store accepts --------------------------------------------------------

    def prediction_columns(self, model: ModelSection) -> dict[str, str]:
        """The store columns that hold one logged prediction, in log order, each mapped to
        its kind (``"numerical"`` or ``"categorical"``). Default: the score column
        ``model.prediction``, numerical. The store, the baseline and drift plans read it."""
        return {model.prediction: "numerical"}

    def derived_prediction_columns(self, model: ModelSection) -> tuple[str, ...]:
        """Prediction columns a batch may leave out (or leave blank in some rows): the task
        derives them from the others with :meth:`prediction_frame`. Default: none."""
        return ()

    def prediction_frame(self, model: ModelSection, scores: np.ndarray) -> pd.DataFrame:
        """The store's prediction columns for ``scores`` as :meth:`score` returns them
        (one row per scored row; rows of NaN scores give missing values). Default: the
        one score column."""
        import numpy as np
        import pandas as pd

        return pd.DataFrame({model.prediction: np.asarray(scores, dtype=float)})

    def stored_scores(self, model: ModelSection, frame: pd.DataFrame) -> np.ndarray:
        """The inverse of :meth:`prediction_frame`: the scores (the shape :meth:`score`
        returns) held by the prediction columns of ``frame``. Raises KeyError for a
        missing column."""
        return frame[model.prediction].to_numpy(dtype=float)

    def check_predictions(
        self, model: ModelSection, frame: pd.DataFrame
    ) -> list[tuple[str, RowProblem]]:
        """Rows of ``frame`` (the prediction columns, numbers as float, categories as text
        or None; derived columns filled) the task's models cannot have made, each with the
        column to name in the error. Default: :meth:`prediction_problems` of the score."""
        return [(model.prediction, p) for p in self.prediction_problems(frame[model.prediction])]

    def encode_labels(self, labels: pd.Series) -> pd.Series | None:
        """Labels as read (text or numbers) as the floats the store keeps, NaN where a
        value is not a label of this task (:meth:`label_problems` then names the rows);
        None when labels are plain numbers (the default: parsed as numbers)."""
        return None

    def decode_labels(self, labels: np.ndarray) -> np.ndarray:
        """Stored labels as a trainer receives them (the inverse of :meth:`encode_labels`).
        Default: unchanged."""
        return labels

    @abstractmethod
    def label_problems(self, labels: pd.Series) -> list[RowProblem]:
        """Rows whose label the task cannot learn from or judge with (missing values
        included). ``labels`` are numeric (ingestion parsed them)."""

    @abstractmethod
    def prediction_problems(self, predictions: pd.Series) -> list[RowProblem]:
        """Rows whose logged prediction (numeric, present) the task's models cannot have made."""

    @abstractmethod
    def why_unusable(self, labels: pd.Series | np.ndarray) -> str | None:
        """Why a model cannot be trained or benchmarked on these labels (e.g. a single
        class), or None when it can."""

    @abstractmethod
    def strata(self, target: str, segments: Sequence[str]) -> list[str]:
        """The columns the baseline sample is stratified by, so that rare label values and
        segments keep their share of the reference."""

    def stratum_keys(
        self, frame: pd.DataFrame, target: str, segments: Sequence[str]
    ) -> list[pd.Series]:
        """One key per stratum column of ``frame`` (:meth:`strata`, those present), as
        text with missing values named; a task with a continuous label bins it here."""
        return [
            frame[c].astype(str).fillna("<missing>")
            for c in self.strata(target, segments)
            if c in frame.columns
        ]

    def typed_labels(self, labels: pd.Series) -> pd.Series:
        """Present labels (checked by :meth:`label_problems`) in the type the task's
        trainers and metrics take; floats unless the task overrides it."""
        return labels.astype(float)

    # -- models: scoring, metrics, comparison -------------------------------------------------

    @abstractmethod
    def score(self, estimator: Any, features: pd.DataFrame) -> np.ndarray:
        """The model's predictions on ``features``: one float per row, as the store logs them."""

    @abstractmethod
    def evaluate(self, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
        """Every metric in ``metrics`` of predictions ``p`` against labels ``y`` (NaN where
        undefined), plus descriptive counts (e.g. ``rows``)."""

    def calibration_table(self, y: np.ndarray, p: np.ndarray) -> list[dict[str, float]] | None:
        """A table of predicted vs actual by group of predictions (rows of plain numbers,
        e.g. regression's deciles), kept with benchmark results and shown next to the
        calibration gate; None when the task has none."""
        return None

    def gate_figures(self, y: np.ndarray, scores: Mapping[str, np.ndarray]) -> list[GateFigure]:
        """Pictures of models scored on the same labelled rows, for the gate report:
        ``y`` the labels (n, as stored), ``scores`` legend (e.g. ``"challenger v3"``) ->
        what :meth:`score` returned for those rows. Classification draws ROC and PR curves
        and a calibration diagram, regression predicted vs actual and its decile
        calibration (:mod:`driftline.tasks.figures`). Default: none (a task without
        pictures still gets the per-segment bars every benchmark draws)."""
        return []

    @abstractmethod
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
        """The interval of ``metric(candidate) - metric(reference)`` on resamples of the
        same rows. Raises ValueError for a metric outside ``primary_metrics`` or labels
        the metric is undefined on."""

    # -- monitoring: realized performance -------------------------------------------------------

    @abstractmethod
    def labelled(self, frame: pd.DataFrame, score: str, target: str) -> pd.DataFrame | None:
        """The rows of ``frame`` (columns ``score`` and ``target``, both present) that
        realized metrics can be computed on, typed; None when there are none or their
        labels are unusable. Raises DataError for labels the task cannot read."""

    def numeric_labelled(
        self, frame: pd.DataFrame, columns: Sequence[str], target: str
    ) -> pd.DataFrame | None:
        """The rows of ``frame`` whose ``columns`` (the stored scores) and ``target`` all
        parse as numbers (``pd.to_numeric``), those columns in that order, index reset;
        None when there are none or :meth:`why_unusable` refuses their labels. Raises
        DataError with the count of rows of each of :meth:`label_problems`. What
        :meth:`labelled` builds on: it then casts the labels."""
        import numpy as np
        import pandas as pd

        numbers = {c: pd.to_numeric(frame[c], errors="coerce") for c in [*columns, target]}
        rows = pd.DataFrame(numbers).dropna()
        if rows.empty or self.why_unusable(rows[target]):
            return None
        for problem in self.label_problems(rows[target]):
            bad = int(np.count_nonzero(problem.rows))
            if bad:
                raise DataError(f"labels in {target!r}: {bad} rows {problem.what}")
        return rows.reset_index(drop=True)

    @abstractmethod
    def count_labels(self, labels: pd.Series | np.ndarray) -> tuple[int, int]:
        """(labelled rows, positive labels) among ``labels`` (missing values left out)."""

    @abstractmethod
    def realized(self, labelled: pd.DataFrame, score: str, target: str) -> dict[str, float]:
        """``watched_metrics`` of the stored scores against matured labels (``labelled``
        comes from :meth:`labelled`)."""

    @abstractmethod
    def why_not_judged(
        self, performance: RealizedPerformance, *, min_labelled_rows: int, min_positives: int
    ) -> str | None:
        """Why realized performance holds too little to compare with the baseline (the
        note a monitor run shows), or None when it can be judged."""

    # -- monitoring: performance estimated before labels arrive --------------------------------

    def fit_estimator(
        self,
        model: ModelSection,
        features: pd.DataFrame,
        schema: Mapping[str, str],
        y: np.ndarray,
        scores: np.ndarray,
        *,
        seed: int = 0,
    ) -> dict[str, Any]:
        """The performance estimator of a champion, fitted at baseline capture on its
        validation rows (``features``: the ``schema`` columns, n rows; ``y``: the labels as
        :meth:`typed_labels` gives them; ``scores``: what :meth:`score` returned), as
        JSON-ready values stored with the baseline (never pickle). Default: no estimator,
        ``{"method": None, "reason": ...}`` (the reason is shown where estimates would be).
        Raises DataError when the rows cannot fit one (the caller stores the reason)."""
        return {
            "method": None,
            "reason": f"task {self.name} has no performance estimator: only realized "
            "performance is measured, once labels mature",
        }

    def estimate(
        self,
        estimator: Mapping[str, Any],
        model: ModelSection,
        window: pd.DataFrame,
        *,
        sigmas: float,
    ) -> EstimatedPerformance:
        """``estimated_metrics`` of a window of predictions (its prediction columns and,
        for estimators that read them, its features) under an estimator from
        :meth:`fit_estimator`, each with a band of ``sigmas`` sampling errors. Raises
        DataError when the window lacks what the estimator reads or has no usable row."""
        from driftline.config.errors import DataError

        raise DataError(f"task {self.name} has no performance estimator")

    # -- promotion ----------------------------------------------------------------------------

    @abstractmethod
    def segment_gateable(self, rows: int, positives: int) -> bool:
        """Whether a benchmark segment of ``rows`` rows (``positives`` positive labels) has
        metrics the segment gate can compare."""


def _check(value: object) -> str | None:
    """Why ``value`` cannot be registered as a task, or None."""
    if not isinstance(value, Task):
        return "a task must be an instance of driftline.tasks.Task"
    attributes = ("metrics", "primary_metrics", "watched_metrics")
    lacking = [a for a in attributes if not hasattr(value, a)]
    if lacking:
        return f"it does not set {', '.join(lacking)}"
    named = [*value.primary_metrics, *value.watched_metrics]
    if value.calibration_metric is not None:
        named.append(value.calibration_metric)
    unknown = sorted({m for m in named if m not in value.metrics})
    if unknown:
        return f"metrics {unknown} are not among its metrics ({', '.join(value.metrics)})"
    return None


TASKS: Registry[Task] = Registry(
    "task",
    "driftline.tasks",
    ["driftline.tasks.binary", "driftline.tasks.regression", "driftline.tasks.multiclass"],
    check=_check,
)


def task_for(model: ModelSection) -> Task:
    """The task of a spec's ``model:`` section, configured with its ``task_options``.

    Raises PluginError for a task that is not registered (spec validation refuses those
    first) and pydantic.ValidationError for options the task does not accept."""
    return TASKS.get(model.task).configure(model.task_options)


__all__ = [
    "DEFAULT_TASK",
    "TASKS",
    "PairedBootstrap",
    "RowProblem",
    "Task",
    "TaskOptions",
    "task_for",
]
