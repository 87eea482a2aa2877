"""The ``multiclass_classification`` task: a model that gives each of K named classes a
probability (e.g. the category of a customer's next purchase).

The spec lists the classes (``model.task_options.classes``); a logged prediction is one
probability column per class (``probability_columns``, default ``p_<class>``) plus the
predicted class in ``model.prediction``, which a batch may leave out (driftline then
stores the most probable class). Labels are class names; the store keeps each as its
position in ``classes`` (so classes may be appended to the list, never reordered or
removed), and trainers receive the names.

Metrics (scikit-learn): log loss, one-vs-rest ROC AUC averaged over classes (macro) and
weighted by class frequency (weighted), accuracy, macro F1 and the recall of each class
(``recall_<class>``). Accuracy, F1 and recall judge the most probable class. Each row's
probabilities are divided by their sum before the metrics (a logged row may miss 1 by up
to ``sum_tolerance``).

scikit-learn and pandas are imported where they are used: importing this module (which
the task registry does during spec validation) stays cheap.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from driftline.config.errors import DataError, ModelError
from driftline.tasks import TASKS, PairedBootstrap, RowProblem, Task, TaskOptions
from driftline.tasks.resampling import paired_interval, tie_groups, weighted_roc_auc

if TYPE_CHECKING:
    import pandas as pd

    from driftline.monitoring.results import RealizedPerformance
    from driftline.specs.model import ModelSection
    from driftline.tasks.figures import GateFigure

_EPS = 1e-15
_CLASS = re.compile(r"^[A-Za-z0-9_]{1,40}$")
RECALL = "recall_"

#: The metrics every multiclass model has, mapped to whether higher is better; the
#: configured task adds ``recall_<class>`` (higher is better) for each class.
BASE_METRICS: Mapping[str, bool] = MappingProxyType(
    {
        "roc_auc_macro": True,
        "roc_auc_weighted": True,
        "accuracy": True,
        "f1_macro": True,
        "log_loss": False,
    }
)


class MulticlassOptions(TaskOptions):
    """``model.task_options`` of a multiclass model."""

    classes: tuple[str, ...] = Field(
        description="The classes the model predicts, in a fixed order (at least 2; letters, "
        "digits and underscores). Labels must be one of them. The store keeps a label as "
        "its position here: append new classes, never reorder or remove one."
    )
    probability_columns: dict[str, str] = Field(
        default_factory=dict,
        description="Class -> column of prediction batches holding its probability; a "
        "class not named here uses p_<class>.",
    )
    sum_tolerance: float = Field(
        default=0.01,
        gt=0,
        lt=0.5,
        description="A logged row's probabilities must sum to 1 within this.",
    )

    @field_validator("classes")
    @classmethod
    def _classes_named(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) < 2:
            raise ValueError("list at least 2 classes")
        bad = [c for c in value if not _CLASS.match(c)]
        if bad:
            raise ValueError(
                f"class names {bad} must be 1-40 letters, digits or underscores "
                "(they name metrics and default columns)"
            )
        twice = sorted({c for c in value if value.count(c) > 1})
        if twice:
            raise ValueError(f"classes {twice} are listed twice")
        return value

    @model_validator(mode="after")
    def _columns_for_known_classes(self) -> MulticlassOptions:
        stray = sorted(set(self.probability_columns) - set(self.classes))
        if stray:
            raise ValueError(
                f"probability_columns names {stray}, which are not among classes "
                f"{list(self.classes)}"
            )
        return self

    @property
    def columns(self) -> dict[str, str]:
        """Class -> probability column, in class order."""
        return {c: self.probability_columns.get(c, f"p_{c}") for c in self.classes}


def normalized(p: np.ndarray) -> np.ndarray:
    """Rows of ``p`` (n x K) divided by their sums, clipped to [1e-15, 1]."""
    p = np.clip(np.asarray(p, dtype=float), 0.0, None)
    sums = p.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(sums > 0, p / sums, 1.0 / max(p.shape[1], 1))
    return np.clip(out, _EPS, 1.0)


def multiclass_metrics(
    y: np.ndarray, p: np.ndarray, classes: Sequence[str], *, weights: np.ndarray | None = None
) -> dict[str, float]:
    """Log loss, macro and weighted one-vs-rest ROC AUC, accuracy, macro F1 and the recall
    of each class (``recall_<class>``) of probabilities ``p`` (n x K, columns in the order
    of ``classes``) against class positions ``y`` (n ints in [0, K)), with scikit-learn's
    ``log_loss``, ``roc_auc_score(multi_class="ovr")``, ``accuracy_score``, ``f1_score``
    and ``recall_score``; plus ``rows``. Rows are normalized first (:func:`normalized`).

    NaN where a metric is undefined: ROC AUC unless every class is present, a class's
    recall when it has no row. ``weights`` (n) weigh rows (the bootstrap's resamples).
    """
    from sklearn.metrics import accuracy_score, f1_score, log_loss, recall_score, roc_auc_score

    k = len(classes)
    labels = list(range(k))
    y = np.asarray(y, dtype=int)
    out: dict[str, float] = dict.fromkeys(BASE_METRICS, float("nan"))
    out.update({f"{RECALL}{c}": float("nan") for c in classes})
    out["rows"] = float(y.size)
    if y.size == 0:
        return out
    p = normalized(p)
    predicted = p.argmax(axis=1)
    out["log_loss"] = float(log_loss(y, p, labels=labels, sample_weight=weights))
    out["accuracy"] = float(accuracy_score(y, predicted, sample_weight=weights))
    out["f1_macro"] = float(
        f1_score(
            y, predicted, labels=labels, average="macro", zero_division=0, sample_weight=weights
        )
    )
    recalls = recall_score(
        y, predicted, labels=labels, average=None, zero_division=np.nan, sample_weight=weights
    )
    out.update({f"{RECALL}{c}": float(r) for c, r in zip(classes, recalls, strict=True)})
    present = np.bincount(y, weights=weights, minlength=k) > 0
    if present.all():
        for average in ("macro", "weighted"):
            out[f"roc_auc_{average}"] = float(
                roc_auc_score(
                    y,
                    p,
                    multi_class="ovr",
                    average=average,
                    labels=labels,
                    sample_weight=weights,
                )
            )
    return out


def multiclass_figures(
    y: np.ndarray, scores: Mapping[str, np.ndarray], classes: Sequence[str]
) -> list[GateFigure]:
    """One-vs-rest curves averaged over classes (macro), per model: the ROC curve (mean
    true positive rate on a common false positive rate grid, as scikit-learn's "Multiclass
    Receiver Operating Characteristic" example), the precision-recall curve (mean
    interpolated precision on a recall grid), and the top-label calibration diagram
    (confidence of the most probable class vs its accuracy, 10 bins; Guo et al. 2017,
    "On Calibration of Modern Neural Networks"). ``y``: class positions (n), ``scores``:
    n x K probabilities per model. Classes without rows are left out of the averages."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    from driftline.tasks import figures

    y = np.asarray(y, dtype=int)
    grid = np.linspace(0.0, 1.0, 201)
    present = [k for k in range(len(classes)) if 0 < np.count_nonzero(y == k) < y.size]
    if not present:
        raise ValueError("one-vs-rest curves need at least two classes with rows")
    roc, pr, cal = {}, {}, {}
    for label, scored in scores.items():
        p = normalized(scored)
        tprs, precisions = [], []
        for k in present:
            fpr, tpr, _ = roc_curve(y == k, p[:, k])
            tprs.append(np.interp(grid, fpr, tpr))
            precision, recall, _ = precision_recall_curve(y == k, p[:, k])
            # recall decreases along the arrays; interpolate on it ascending, taking the
            # best precision at or beyond each recall (the usual interpolated PR curve)
            best = np.maximum.accumulate(precision)
            precisions.append(np.interp(grid, recall[::-1], best[::-1]))
        roc[f"{label} (macro)"] = (grid, np.mean(tprs, axis=0))
        pr[f"{label} (macro)"] = (grid, np.mean(precisions, axis=0))
        confidence = p.max(axis=1)
        correct = (p.argmax(axis=1) == y).astype(float)
        bins = np.minimum((confidence * 10).astype(int), 9)
        used = np.bincount(bins, minlength=10) > 0
        counts = np.bincount(bins, minlength=10)[used]
        cal[label] = (
            np.bincount(bins, weights=confidence, minlength=10)[used] / counts,
            np.bincount(bins, weights=correct, minlength=10)[used] / counts,
        )
    return [
        figures.curves(
            "roc",
            "ROC curve (one-vs-rest, macro average)",
            roc,
            xlabel="false positive rate",
            ylabel="true positive rate",
            diagonal=True,
        ),
        figures.curves(
            "pr",
            "Precision-recall curve (one-vs-rest, macro average)",
            pr,
            xlabel="recall",
            ylabel="precision",
        ),
        figures.calibration(
            "calibration",
            "Calibration of the most probable class (10 bins)",
            cal,
            xlabel="confidence (top-class probability)",
            ylabel="accuracy",
            unit_square=True,
        ),
    ]


def class_recalls(metrics: Mapping[str, float]) -> dict[str, float]:
    """Class -> recall, from metrics as :func:`multiclass_metrics` names them."""
    return {k[len(RECALL) :]: float(v) for k, v in metrics.items() if k.startswith(RECALL)}


class MulticlassClassification(Task):
    """A model that gives each of the spec's classes a probability."""

    name = "multiclass_classification"
    metrics = BASE_METRICS
    primary_metrics = ("roc_auc_macro", "roc_auc_weighted", "accuracy", "f1_macro")
    watched_metrics = ("roc_auc_macro", "accuracy", "f1_macro")
    calibration_metric = None
    prediction_method = "predict_proba"
    options_model = MulticlassOptions
    default_primary_metric = "roc_auc_macro"
    default_max_drop = MappingProxyType({"roc_auc_macro": 0.05, "accuracy": 0.05})

    @property
    def options(self) -> MulticlassOptions:
        """The spec's options; a task not configured from a spec has none (its classes
        are unknown): ValueError then."""
        configured = self.__dict__.get("_options")
        if configured is None:
            raise ValueError(
                "multiclass_classification needs model.task_options.classes: use "
                "driftline.tasks.task_for(spec.model)"
            )
        return configured

    def configure(self, options: Mapping[str, Any] | None) -> Task:
        """A copy reading ``options``; its ``metrics`` add ``recall_<class>`` per class."""
        configured = super().configure(options)
        classes = configured.options.classes  # type: ignore[attr-defined]
        configured.__dict__["metrics"] = MappingProxyType(
            {**BASE_METRICS, **{f"{RECALL}{c}": True for c in classes}}
        )
        return configured

    @property
    def classes(self) -> tuple[str, ...]:
        return self.options.classes

    # -- columns -----------------------------------------------------------------------------

    def prediction_columns(self, model: ModelSection) -> dict[str, str]:
        """The predicted class (``model.prediction``, categorical), then each class's
        probability column (numerical)."""
        return {
            model.prediction: "categorical",
            **dict.fromkeys(self.options.columns.values(), "numerical"),
        }

    def derived_prediction_columns(self, model: ModelSection) -> tuple[str, ...]:
        """The predicted class: the most probable class where a batch leaves it out."""
        return (model.prediction,)

    def prediction_frame(self, model: ModelSection, scores: np.ndarray) -> pd.DataFrame:
        """The probability columns, and the most probable class (None for a row without
        probabilities)."""
        import pandas as pd

        p = np.asarray(scores, dtype=float).reshape(len(scores), len(self.classes))
        known = ~np.isnan(p).any(axis=1)
        best = np.asarray(self.classes, dtype=object)[np.nan_to_num(p).argmax(axis=1)]
        frame = pd.DataFrame({model.prediction: np.where(known, best, None)})
        for j, column in enumerate(self.options.columns.values()):
            frame[column] = p[:, j]
        return frame

    def stored_scores(self, model: ModelSection, frame: pd.DataFrame) -> np.ndarray:
        """The probability columns as an n x K array (class order)."""
        columns = list(self.options.columns.values())
        return frame[columns].to_numpy(dtype=float)

    def check_predictions(
        self, model: ModelSection, frame: pd.DataFrame
    ) -> list[tuple[str, RowProblem]]:
        """Probabilities outside [0, 1] (per column), rows whose probabilities do not sum
        to 1 within ``sum_tolerance`` (named by every probability column), and predicted
        classes that are not among the spec's classes."""
        opts = self.options
        columns = list(opts.columns.values())
        out: list[tuple[str, RowProblem]] = []
        for column in columns:
            values = frame[column]
            out.append((column, RowProblem((values < 0) | (values > 1), "are outside [0, 1]")))
        p = frame[columns].to_numpy(dtype=float)
        complete = ~np.isnan(p).any(axis=1)
        sums = np.nansum(p, axis=1)
        off = complete & (np.abs(sums - 1.0) > opts.sum_tolerance)
        out.append(
            (
                " + ".join(columns),
                RowProblem(off, f"do not sum to 1 (within {opts.sum_tolerance:g})"),
            )
        )
        partial = ~complete & ~np.isnan(p).all(axis=1)
        out.append((" + ".join(columns), RowProblem(partial, "have some probabilities missing")))
        predicted = frame[model.prediction]
        unknown = predicted.notna() & ~predicted.astype(str).isin(self.classes)
        out.append(
            (
                model.prediction,
                RowProblem(unknown.to_numpy(), f"are not one of the classes {list(self.classes)}"),
            )
        )
        return out

    def encode_labels(self, labels: pd.Series) -> pd.Series:
        """Class names as their positions in ``classes`` (floats); NaN for anything else.
        Numbers are read as names ("2" for 2 or 2.0)."""
        import pandas as pd

        text = labels.map(_as_name)
        position = {c: float(i) for i, c in enumerate(self.classes)}
        return pd.Series(text.map(position), index=labels.index, dtype="float64")

    def decode_labels(self, labels: np.ndarray) -> np.ndarray:
        """Class positions as class names."""
        names = np.asarray(self.classes, dtype=object)
        return names[np.asarray(labels, dtype=int)]

    # -- data checks -------------------------------------------------------------------------

    def label_problems(self, labels: pd.Series) -> list[RowProblem]:
        """Labels that are not one of the classes (or are missing)."""
        valid = labels.isin([float(i) for i in range(len(self.classes))])
        return [RowProblem(~valid, f"are not one of the classes {list(self.classes)}")]

    def prediction_problems(self, predictions: pd.Series) -> list[RowProblem]:
        """A single probability outside [0, 1] (whole rows: :meth:`check_predictions`)."""
        return [RowProblem((predictions < 0) | (predictions > 1), "are outside [0, 1]")]

    def why_unusable(self, labels: pd.Series | np.ndarray) -> str | None:
        """A classifier needs at least two classes."""
        import pandas as pd

        present = pd.Series(labels).dropna()
        if present.nunique() >= 2:
            return None
        if present.empty:
            return "there are no labels"
        only = self.classes[int(present.iloc[0])]
        return f"every label is {only!r}; a classifier needs at least two classes"

    def strata(self, target: str, segments: Sequence[str]) -> list[str]:
        """The class first (rare classes keep their share), then the segments."""
        return [target, *segments]

    # -- models ------------------------------------------------------------------------------

    def score(self, estimator: Any, features: pd.DataFrame) -> np.ndarray:
        """``predict_proba(features)`` as n x K, columns in the spec's class order, matched
        to the estimator's ``classes_`` by name; a class the model never learnt gets 0.
        Raises ModelError when the model knows a class the spec does not list."""
        proba = np.asarray(estimator.predict_proba(features), dtype=float)
        known = list(getattr(estimator, "classes_", []))
        if len(known) != proba.shape[1]:
            raise ModelError(
                f"the model's classes_ ({known}) do not match its {proba.shape[1]} "
                "probability columns"
            )
        out = np.zeros((proba.shape[0], len(self.classes)))
        position = {c: i for i, c in enumerate(self.classes)}
        stray = [c for c in known if _as_name(c) not in position]
        if stray:
            raise ModelError(
                f"the model predicts classes {stray} that model.task_options.classes "
                f"({list(self.classes)}) does not list"
            )
        for j, c in enumerate(known):
            out[:, position[_as_name(c)]] = proba[:, j]
        return out

    def evaluate(self, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
        """:func:`multiclass_metrics`."""
        return multiclass_metrics(y, p, self.classes)

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
        chunk: int = 50,
    ) -> PairedBootstrap:
        """Resample rows with replacement (the same rows for both models) and return the
        percentile interval of ``metric`` (challenger - reference). Resamples are row
        weights, computed in chunks and vectorised over resamples (one-vs-rest ROC AUC
        from the binary task's weighted AUC, one sort per class); the point difference
        equals :func:`multiclass_metrics`' (scikit-learn's). ValueError for a metric
        outside ``primary_metrics`` or labels of a single class."""
        if metric not in self.primary_metrics:
            raise ValueError(f"bootstrap supports {list(self.primary_metrics)}, not {metric!r}")
        y = np.asarray(y, dtype=int)
        n = y.size
        if n == 0 or np.unique(y).size < 2:
            raise ValueError("the bootstrap needs rows of at least two classes")
        k = len(self.classes)
        cand = _Scored(y, p_candidate, k)
        ref = _Scored(y, p_reference, k)
        return paired_interval(
            metric,
            lambda w: cand.value(metric, w),
            lambda w: ref.value(metric, w),
            n,
            samples=samples,
            confidence=confidence,
            seed=seed,
            chunk=chunk,
        )

    # -- monitoring --------------------------------------------------------------------------

    def gate_figures(self, y: np.ndarray, scores: Mapping[str, np.ndarray]) -> list[GateFigure]:
        """:func:`multiclass_figures` with the spec's classes."""
        return multiclass_figures(y, scores, self.classes)

    def labelled(self, frame: pd.DataFrame, score: str, target: str) -> pd.DataFrame | None:
        """Rows with every probability and a label (the probability columns and
        ``target`` as int class positions); None when fewer than two classes are present.
        DataError for a label that is not a class position."""
        columns = list(self.options.columns.values())
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(f"labelled rows lack the probability columns {missing}")
        rows = self.numeric_labelled(frame, columns, target)
        if rows is not None:
            rows[target] = rows[target].astype(int)
        return rows

    def count_labels(self, labels: pd.Series | np.ndarray) -> tuple[int, int]:
        """(labelled rows, rows of the rarest class): the second number is what
        ``min_positives`` and the segment gate read."""
        import pandas as pd

        values = pd.to_numeric(pd.Series(labels), errors="coerce").dropna()
        valid = values[values.isin([float(i) for i in range(len(self.classes))])]
        counts = np.bincount(valid.astype(int), minlength=len(self.classes))
        return len(values), int(counts.min())

    def realized(self, labelled: pd.DataFrame, score: str, target: str) -> dict[str, float]:
        """The watched metrics (macro ROC AUC, accuracy, macro F1) of the stored
        probabilities, NaN when undefined (a class without rows: no ROC AUC)."""
        columns = list(self.options.columns.values())
        metrics = multiclass_metrics(
            labelled[target].to_numpy(), labelled[columns].to_numpy(), self.classes
        )
        return {k: metrics[k] for k in self.watched_metrics}

    def why_not_judged(
        self, performance: RealizedPerformance, *, min_labelled_rows: int, min_positives: int
    ) -> str | None:
        """Too few labelled predictions, or fewer than ``min_positives`` of some class."""
        perf = performance
        finite = [v for v in perf.metrics.values() if np.isfinite(v)]
        if perf.labelled_rows < min_labelled_rows or perf.positives < min_positives or not finite:
            return (
                f"performance not judged: {perf.labelled_rows} labelled predictions (the "
                f"rarest class has {perf.positives}); needs {min_labelled_rows} with at least "
                f"{min_positives} of every class"
            )
        return None

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
        """No estimator yet: CBPE one-vs-rest (a calibration per class) is not built, so
        a multiclass model's performance is only measured once labels mature. The reason
        is stored with the baseline and shown where estimates would be."""
        return {
            "method": None,
            "reason": "performance estimation is not built for multiclass_classification "
            "(CBPE one-vs-rest is planned); only realized performance is judged, once "
            "labels mature",
        }

    def segment_gateable(self, rows: int, positives: int) -> bool:
        """Every class present (``positives`` is the rarest class's count)."""
        return positives > 0


class _Scored:
    """One model's probabilities on fixed rows, with what every resample reuses: the
    predicted class and, per class, the one-vs-rest sort order."""

    def __init__(self, y: np.ndarray, p: np.ndarray, k: int) -> None:
        self.k = k
        self.onehot = np.eye(k)[y]  # n x K
        p = normalized(p)
        self.hit = (p.argmax(axis=1) == y).astype(float)
        self.predicted = np.eye(k)[p.argmax(axis=1)]
        self.groups = [tie_groups(p[:, j]) for j in range(k)]

    def value(self, metric: str, w: np.ndarray) -> np.ndarray:
        """``metric`` under each row of weights ``w`` (B x n): B values."""
        if metric == "accuracy":
            return (w @ self.hit) / w.sum(axis=1)
        if metric == "f1_macro":
            tp = w @ (self.onehot * self.predicted)
            fp = w @ self.predicted - tp
            fn = w @ self.onehot - tp
            with np.errstate(invalid="ignore", divide="ignore"):
                f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
            return f1.mean(axis=1)
        aucs = np.column_stack(
            [weighted_roc_auc(self.onehot[:, j], *self.groups[j], w) for j in range(self.k)]
        )
        prevalence = w @ self.onehot  # B x K
        if metric == "roc_auc_macro":
            return np.where((prevalence > 0).all(axis=1), aucs.mean(axis=1), np.nan)
        with np.errstate(invalid="ignore"):
            weighted = np.nansum(aucs * prevalence, axis=1) / prevalence.sum(axis=1)
        return np.where((prevalence > 0).all(axis=1), weighted, np.nan)


def _as_name(value: Any) -> str | None:
    """A label or ``classes_`` entry as a class name: text stripped, whole numbers
    without a decimal point (2.0 -> "2"); None when missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, bool | np.bool_):
        return str(value)
    return str(value).strip()


TASKS.register(MulticlassClassification())
